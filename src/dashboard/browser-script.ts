/**
 * The dashboard page's own script, served as `/assets/dashboard.js` (the CSP allows no
 * inline script). It asks the dashboard server only: `/api/topology` every 2 s (the SVG
 * picture, put in the page through DOMParser, never innerHTML), `/api/alerts` and each
 * chart's `/api/charts/<id>` every 5 s (one scrape), and draws the charts with uPlot.
 * Each poll starts after the previous one ended, so a slow answer never piles requests up.
 */
export const TOPOLOGY_REFRESH_MS = 2000;
export const CHARTS_REFRESH_MS = 5000;

export const DASHBOARD_SCRIPT = `'use strict';
(function () {
  var TOPOLOGY_MS = ${TOPOLOGY_REFRESH_MS};
  var CHARTS_MS = ${CHARTS_REFRESH_MS};
  var PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];
  var byId = function (id) { return document.getElementById(id); };

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.message || body.error || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function poll(every, fn) {
    var run = function () {
      Promise.resolve().then(fn).catch(function () {}).then(function () { setTimeout(run, every); });
    };
    run();
  }

  function showTopology() {
    return getJson('/api/topology').then(function (t) {
      var doc = new DOMParser().parseFromString(t.svg, 'image/svg+xml');
      byId('topology').replaceChildren(document.importNode(doc.documentElement, true));
      var vip = t.vip ? ('VIP ' + t.vip.address + (t.vip.holder ? ' on ' + t.vip.holder : ' held by nobody') + ' · ') : '';
      byId('facts').textContent = vip + 'primary database: ' + t.primary + ' · ' + t.url;
      byId('updated').textContent = 'status at ' + new Date(t.at).toLocaleTimeString();
      byId('topology-error').textContent = '';
    }, function (err) {
      byId('topology-error').textContent = 'tandem status failed: ' + err.message;
    });
  }

  function showAlerts() {
    return getJson('/api/alerts').then(function (a) {
      var box = byId('alerts');
      byId('alerts-error').textContent = '';
      if (a.message) { box.replaceChildren(el('p', a.message, 'message')); return; }
      if (a.alerts.length === 0) { box.replaceChildren(el('p', 'Nothing fires.', 'quiet')); return; }
      var table = el('table');
      var head = el('tr');
      ['state', 'alert', 'severity', 'where', 'summary', 'since'].forEach(function (h) { head.appendChild(el('th', h)); });
      table.appendChild(head);
      a.alerts.forEach(function (x) {
        var row = el('tr', undefined, x.state);
        row.dataset.alert = x.name;
        [x.state, x.name, x.severity, x.where, x.summary, x.since ? new Date(x.since).toLocaleTimeString() : ''].forEach(function (v) { row.appendChild(el('td', v)); });
        table.appendChild(row);
      });
      box.replaceChildren(table);
    }, function (err) {
      byId('alerts').replaceChildren();
      byId('alerts-error').textContent = err.message;
    });
  }

  var FORMAT = {
    'req/s': function (v) { return v == null ? '' : v.toFixed(v < 10 ? 2 : 0) + '/s'; },
    's': function (v) { return v == null ? '' : (v < 1 ? (v * 1000).toFixed(v < 0.01 ? 1 : 0) + ' ms' : v.toFixed(2) + ' s'); },
    '%': function (v) { return v == null ? '' : v.toFixed(1) + ' %'; }
  };

  var plots = {};

  function drawChart(box, c) {
    var old = plots[c.id];
    var key = c.labels.join('|');
    if (old && old.key === key) { old.plot.setData(c.data); return; }
    if (old) old.plot.destroy();
    var format = FORMAT[c.unit];
    var opts = {
      width: Math.max(320, box.clientWidth - 4),
      height: 220,
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max || 0, c.unit === '%' ? 100 : 0) || 1]; } } },
      axes: [{}, { size: 70, values: function (u, vals) { return vals.map(format); } }],
      series: [{}].concat(c.labels.map(function (l, i) {
        return { label: l, stroke: PALETTE[i % PALETTE.length], width: 2, value: function (u, v) { return format(v); } };
      }))
    };
    plots[c.id] = { key: key, plot: new uPlot(opts, c.data, box) };
  }

  function showCharts(list) {
    return Promise.all(list.map(function (c) {
      var box = byId('chart-' + c.id);
      return getJson('/api/charts/' + encodeURIComponent(c.id)).then(function (data) {
        box.dataset.series = String(data.labels.length);
        // The largest value drawn: the browser test waits for the traffic it sent to show.
        box.dataset.max = String(Math.max.apply(null, [0].concat(data.data.slice(1).map(function (ys) {
          return Math.max.apply(null, [0].concat(ys.filter(function (y) { return y !== null; })));
        }))));
        box.querySelector('.error').textContent = data.labels.length === 0 ? 'no data yet' : '';
        drawChart(box.querySelector('.plot'), data);
      }, function (err) {
        box.querySelector('.error').textContent = err.message;
      });
    }));
  }

  function startCharts() {
    return getJson('/api/charts').then(function (catalog) {
      var root = byId('charts');
      if (catalog.message) { root.replaceChildren(el('p', catalog.message, 'message')); return; }
      root.replaceChildren.apply(root, catalog.charts.map(function (c) {
        var box = el('div', undefined, 'chart');
        box.id = 'chart-' + c.id;
        box.appendChild(el('h3', c.title));
        box.appendChild(el('p', c.note, 'note'));
        box.appendChild(el('p', '', 'error'));
        box.appendChild(el('div', undefined, 'plot'));
        return box;
      }));
      poll(CHARTS_MS, function () { return showCharts(catalog.charts); });
    }, function (err) {
      byId('charts-error').textContent = err.message;
    });
  }

  poll(TOPOLOGY_MS, showTopology);
  poll(CHARTS_MS, showAlerts);
  startCharts();
})();
`;
