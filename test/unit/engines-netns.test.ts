import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import {
  dnsmasqEngine,
  engines,
  keepalivedEngine,
  nftablesEngine,
  renderSiteExtensions,
  siteCsrPath,
  siteExtensionsPath,
  tlsTool,
  tools,
} from '../../src/engines/index.ts';

const ka = servicePaths({ dir: '/s/hosts/lb-1/keepalived', kind: 'keepalived' });
const dns = servicePaths({ dir: '/s/hosts/client/dnsmasq', kind: 'dnsmasq' });
const tls = {
  caCert: '/s/tls/ca.crt',
  caKey: '/s/tls/ca.key',
  cert: '/s/tls/site.crt',
  key: '/s/tls/site.key',
  pem: '/s/tls/site.pem',
  dir: '/s/tls',
  enabled: true,
  userSupplied: false,
};

describe('keepalivedEngine', () => {
  it('checks the config, and runs VRRP only in the foreground with its own pid files', () => {
    assert.deepEqual(keepalivedEngine.checkCommand(ka), [
      '/usr/sbin/keepalived',
      '--config-test',
      '--use-file',
      '/s/hosts/lb-1/keepalived/keepalived.conf',
    ]);
    assert.deepEqual(keepalivedEngine.runCommand(ka), [
      '/usr/sbin/keepalived',
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--no-syslog',
      '--vrrp',
      '--use-file',
      '/s/hosts/lb-1/keepalived/keepalived.conf',
      '--pid',
      '/s/hosts/lb-1/keepalived/keepalived.parent.pid',
      '--vrrp_pid',
      '/s/hosts/lb-1/keepalived/keepalived.vrrp.pid',
    ]);
    assert.notEqual(keepalivedEngine.pidFiles(ka).parent, ka.pid);
    // netns: started in the root namespace, it enters the LB's namespace itself.
    assert.deepEqual(keepalivedEngine.runCommand(ka, 'tandem-foobar-lb-1').slice(0, 3), [
      '/usr/sbin/keepalived',
      '--namespace=tandem-foobar-lb-1',
      '--dont-fork',
    ]);
  });

  it('starts in the root namespace (it joins the LB namespace itself), reloads on SIGHUP, stops on SIGTERM', () => {
    assert.equal(keepalivedEngine.startsInRootNamespace, true);
    assert.equal(keepalivedEngine.reloadSignal, 'SIGHUP');
    assert.equal(keepalivedEngine.stopSignal, 'SIGTERM');
    assert.equal(keepalivedEngine.debianPackage, 'keepalived');
  });
});

describe('dnsmasqEngine', () => {
  it('tests and runs only the rendered file, in the foreground', () => {
    assert.deepEqual(dnsmasqEngine.checkCommand(dns), [
      '/usr/sbin/dnsmasq',
      '--test',
      '--conf-file=/s/hosts/client/dnsmasq/dnsmasq.conf',
    ]);
    assert.deepEqual(dnsmasqEngine.runCommand(dns), [
      '/usr/sbin/dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/s/hosts/client/dnsmasq/dnsmasq.conf',
    ]);
    // SIGHUP does not re-read the config file.
    assert.equal(dnsmasqEngine.reloadSignal, null);
    assert.equal(dnsmasqEngine.debianPackage, 'dnsmasq-base');
    assert.equal(dnsmasqEngine.startsInRootNamespace, undefined);
  });
});

describe('nftablesEngine', () => {
  it('checks, applies, lists and removes table inet tandem', () => {
    assert.deepEqual(nftablesEngine.checkCommand('/s/hosts/lb-1/firewall.nft'), [
      '/usr/sbin/nft',
      '--check',
      '--file',
      '/s/hosts/lb-1/firewall.nft',
    ]);
    assert.deepEqual(nftablesEngine.applyCommand('/s/hosts/lb-1/firewall.nft'), [
      '/usr/sbin/nft',
      '--file',
      '/s/hosts/lb-1/firewall.nft',
    ]);
    assert.deepEqual(nftablesEngine.listCommand(), ['/usr/sbin/nft', 'list', 'table', 'inet', 'tandem']);
    assert.deepEqual(nftablesEngine.removeCommand(), ['/usr/sbin/nft', 'delete', 'table', 'inet', 'tandem']);
  });
});

describe('tlsTool', () => {
  it('makes an EC P-256 CA valid for 10 years, named after the stack', () => {
    assert.deepEqual(tlsTool.caKeyCommand(tls), [
      '/usr/bin/openssl',
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      '/s/tls/ca.key',
    ]);
    assert.deepEqual(tlsTool.caCertCommand({ name: 'foobar', tls }), [
      '/usr/bin/openssl',
      'req',
      '-x509',
      '-new',
      '-key',
      '/s/tls/ca.key',
      '-sha256',
      '-days',
      '3650',
      '-subj',
      '/O=tandem/CN=tandem local CA foobar',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
      '-out',
      '/s/tls/ca.crt',
    ]);
  });

  it('signs a site key for 825 days with the extensions file next to it', () => {
    const plan = { name: 'foobar', hostnames: ['foobar.com', 'www.foobar.com'], tls };
    assert.equal(siteCsrPath(tls), '/s/tls/site.csr');
    assert.equal(siteExtensionsPath(tls), '/s/tls/site.ext');
    assert.deepEqual(tlsTool.siteKeyCommand(tls).at(-1), '/s/tls/site.key');
    assert.deepEqual(tlsTool.siteCsrCommand(plan), [
      '/usr/bin/openssl',
      'req',
      '-new',
      '-key',
      '/s/tls/site.key',
      '-subj',
      '/O=tandem/CN=foobar.com',
      '-out',
      '/s/tls/site.csr',
    ]);
    assert.deepEqual(tlsTool.siteCertCommand(plan), [
      '/usr/bin/openssl',
      'x509',
      '-req',
      '-in',
      '/s/tls/site.csr',
      '-CA',
      '/s/tls/ca.crt',
      '-CAkey',
      '/s/tls/ca.key',
      '-sha256',
      '-days',
      '825',
      '-extfile',
      '/s/tls/site.ext',
      '-out',
      '/s/tls/site.crt',
    ]);
    assert.equal(
      renderSiteExtensions(plan),
      [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        'subjectAltName = DNS:foobar.com, DNS:www.foobar.com',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid, issuer',
        '',
      ].join('\n'),
    );
    assert.deepEqual(tlsTool.verifyCommand(tls), [
      '/usr/bin/openssl',
      'verify',
      '-CAfile',
      '/s/tls/ca.crt',
      '/s/tls/site.crt',
    ]);
  });
});

describe('engines and tools', () => {
  it('list keepalived and dnsmasq among the engines, nft and openssl among the tools', () => {
    assert.equal(engines.keepalived, keepalivedEngine);
    assert.equal(engines.dnsmasq, dnsmasqEngine);
    assert.deepEqual(
      Object.values(tools).map((t) => [t.name, t.binary, t.debianPackage]),
      [
        ['nftables', '/usr/sbin/nft', 'nftables'],
        ['openssl', '/usr/bin/openssl', 'openssl'],
      ],
    );
  });
});
