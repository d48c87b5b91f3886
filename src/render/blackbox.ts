/**
 * blackbox_exporter 0.23's `blackbox.yml`: one module that fetches the site the way a
 * browser would, from the monitor host — the site's name in TLS (SNI) and in `Host`,
 * tandem's CA (or none, for a user's certificate) as the only trust, a 200 required and
 * redirects not followed. Prometheus names the URL (prometheus.ts, `siteProbeTarget`).
 */
import type { Plan } from '../config/types.ts';
import { monitorOf, SITE_PROBE_MODULE } from './prometheus.ts';
import { header } from './service.ts';
import { toYaml } from './yaml.ts';

/** The name a browser would use: `www.<domain>` when it is one of the site's names. */
function siteName(plan: Plan): string {
  const www = `www.${plan.domain}`;
  return plan.hostnames.includes(www) ? www : plan.domain;
}

/** `blackbox.yml` of the monitor host. */
export function renderBlackbox(plan: Plan): string {
  const monitor = monitorOf(plan);
  const name = siteName(plan);
  const tls = plan.tls.enabled;
  const config = {
    modules: {
      [SITE_PROBE_MODULE]: {
        prober: 'http',
        timeout: `${Math.max(1, monitor.scrapeIntervalS - 2)}s`,
        http: {
          method: 'GET',
          valid_status_codes: [200],
          preferred_ip_protocol: 'ip4',
          ip_protocol_fallback: false,
          follow_redirects: false,
          fail_if_not_ssl: tls,
          headers: { Host: name },
          ...(tls
            ? { tls_config: { server_name: name, ...(plan.tls.userSupplied ? {} : { ca_file: plan.tls.caCert }) } }
            : {}),
        },
      },
    },
  };
  return `${header('#', `blackbox exporter on ${monitor.host} for stack ${plan.name}`)}\n${toYaml(config)}`;
}
