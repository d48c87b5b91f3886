/**
 * The dashboard's page (pure): the HTML skeleton, its stylesheet and the Content-Security-
 * Policy it is served with. Scripts and styles are files from the dashboard server itself
 * (`script-src 'self'`, no inline script or style, nothing from elsewhere); the page's
 * script (browser-script.ts) fills the skeleton from the server's JSON endpoints.
 */
import { escapeHtml } from '../chaos/report-html.ts';

/**
 * Same origin only, for everything; no inline script or style, no plugins, no framing,
 * no form posts. uPlot sizes its elements through the CSSOM, which the policy allows.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Paths the page loads; the server answers exactly these. */
export const ASSETS = {
  uplotJs: '/assets/uplot.js',
  uplotCss: '/assets/uplot.css',
  script: '/assets/dashboard.js',
  style: '/assets/dashboard.css',
  icon: '/assets/icon.svg',
} as const;

export const DASHBOARD_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #111827; background: #f8fafc; }
header { background: #0f172a; color: #f8fafc; padding: 10px 16px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header .facts { color: #cbd5e1; }
main { padding: 12px 16px; display: grid; gap: 16px; }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }
section h2 { font-size: 15px; margin: 0 0 8px; }
#topology svg { max-width: 100%; height: auto; }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
.chart h3 { font-size: 14px; margin: 0; }
.chart .note { color: #6b7280; font-size: 12px; margin: 0 0 4px; }
.message { color: #92400e; background: #fef3c7; padding: 8px 10px; border-radius: 6px; }
.error { color: #991b1b; }
.error:empty { display: none; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
tr.firing td:first-child { color: #dc2626; font-weight: bold; }
tr.pending td:first-child { color: #d97706; }
.quiet { color: #15803d; }
`;

export const DASHBOARD_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0f172a"/><circle cx="8" cy="8" r="4" fill="#16a34a"/></svg>`;

/** The page's skeleton for stack `name`. */
export function renderDashboardPage(name: string): string {
  const title = escapeHtml(`tandem: ${name}`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="${ASSETS.icon}" type="image/svg+xml">
<link rel="stylesheet" href="${ASSETS.uplotCss}">
<link rel="stylesheet" href="${ASSETS.style}">
</head>
<body>
<header><h1>${title}</h1><span class="facts" id="facts"></span><span class="facts" id="updated"></span></header>
<main>
<section><h2>Topology</h2><p class="error" id="topology-error"></p><div id="topology">loading…</div></section>
<section><h2>Alerts</h2><p class="error" id="alerts-error"></p><div id="alerts">loading…</div></section>
<section><h2>Last 15 minutes</h2><p class="error" id="charts-error"></p><div id="charts"></div></section>
</main>
<script src="${ASSETS.uplotJs}"></script>
<script src="${ASSETS.script}"></script>
</body>
</html>
`;
}
