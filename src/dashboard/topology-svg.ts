/**
 * The topology as an SVG picture (pure): the client and the VIP on top, then a row per
 * tier (load balancers, web, app, database, monitor), each host a box whose header is
 * coloured by its health and which lists its services, each with a coloured dot. No
 * `style` attributes or elements: the page's Content-Security-Policy allows no inline
 * styles, so colours and fonts are presentation attributes. Each host's group carries
 * `data-host` and `data-health`, which the browser test reads.
 */
import { escapeHtml } from '../chaos/report-html.ts';
import { type Health, type HostView, TIERS, type TopologyView } from './topology.ts';

export const HEALTH_COLOURS: Readonly<Record<Health, string>> = {
  up: '#16a34a',
  degraded: '#d97706',
  down: '#dc2626',
};

const BOX_W = 200;
const GAP_X = 36;
const GAP_Y = 56;
const HEADER_H = 40;
const LINE_H = 17;
const MARGIN = 20;
const NODE_H = 34;
const NODE_GAP = 36;
const FONT = 'font-family="system-ui, sans-serif"';

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const bodyLines = (h: HostView) => Math.max(1, h.services.length) + (h.lbVerdict ? 1 : 0);
const boxHeight = (h: HostView) => HEADER_H + 10 + bodyLines(h) * LINE_H;
const centre = (b: Box) => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

/** Where each box goes: the client and VIP nodes, then each tier's hosts centred in its row. */
function layout(view: TopologyView): { boxes: Map<string, Box>; width: number; height: number } {
  const rows = TIERS.map((t) => view.hosts.filter((h) => h.tier === t)).filter((r) => r.length > 0);
  const widest = Math.max(1, ...rows.map((r) => r.length));
  const width = Math.max(760, MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X);
  const boxes = new Map<string, Box>();
  let y = MARGIN;
  const node = (id: string, w: number) => {
    boxes.set(id, { x: (width - w) / 2, y, w, h: NODE_H });
    y += NODE_H + NODE_GAP;
  };
  if (view.client) node('client', 260);
  if (view.vip) node('vip', 340);
  for (const row of rows) {
    const rowW = row.length * BOX_W + (row.length - 1) * GAP_X;
    const height = Math.max(...row.map(boxHeight));
    row.forEach((h, i) =>
      boxes.set(h.name, { x: (width - rowW) / 2 + i * (BOX_W + GAP_X), y, w: BOX_W, h: boxHeight(h) }),
    );
    y += height + GAP_Y;
  }
  return { boxes, width, height: y - GAP_Y + MARGIN + 24 };
}

function hostBox(h: HostView, b: Box): string {
  const colour = HEALTH_COLOURS[h.health];
  const badges = h.badges.length > 0 ? ` · ${h.badges.join(' · ')}` : '';
  const services = h.services.map((s, i) => {
    const y = b.y + HEADER_H + 14 + i * LINE_H;
    return (
      `<circle cx="${b.x + 14}" cy="${y - 4}" r="5" fill="${HEALTH_COLOURS[s.health]}"/>` +
      `<text x="${b.x + 26}" y="${y}" font-size="12" ${FONT} fill="#111827">${escapeHtml(s.kind)}` +
      `<tspan fill="#6b7280"> ${escapeHtml(s.state)}</tspan></text>`
    );
  });
  if (services.length === 0)
    services.push(
      `<text x="${b.x + 10}" y="${b.y + HEADER_H + 14}" font-size="12" ${FONT} fill="#6b7280">no service</text>`,
    );
  if (h.lbVerdict) {
    const y = b.y + HEADER_H + 14 + (bodyLines(h) - 1) * LINE_H;
    services.push(
      `<text class="lb-verdict" x="${b.x + 10}" y="${y}" font-size="12" font-weight="bold" ${FONT} fill="${HEALTH_COLOURS.down}">${escapeHtml(`LB: ${h.lbVerdict}`)}</text>`,
    );
  }
  return [
    `<g class="host" data-host="${escapeHtml(h.name)}" data-health="${h.health}">`,
    `<title>${escapeHtml(`${h.name} (${h.roles.join(', ')}): ${h.health}`)}</title>`,
    `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="6" fill="#ffffff" stroke="${colour}" stroke-width="2"/>`,
    `<rect class="host-header" x="${b.x}" y="${b.y}" width="${b.w}" height="${HEADER_H}" rx="6" fill="${colour}"/>`,
    `<text x="${b.x + 10}" y="${b.y + 17}" font-size="14" font-weight="bold" ${FONT} fill="#ffffff">${escapeHtml(h.name)}${escapeHtml(badges)}</text>`,
    `<text x="${b.x + 10}" y="${b.y + 33}" font-size="11" ${FONT} fill="#ffffff">${escapeHtml(`${h.address} · ${h.roles.join(', ')}`)}</text>`,
    ...services,
    '</g>',
  ].join('');
}

function node(id: string, label: string, b: Box, colour: string): string {
  return (
    `<g class="node" data-node="${id}"><rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="17" fill="${colour}"/>` +
    `<text x="${b.x + b.w / 2}" y="${b.y + 22}" text-anchor="middle" font-size="13" ${FONT} fill="#ffffff">${escapeHtml(label)}</text></g>`
  );
}

/** The whole picture, sized to its content. */
export function renderTopologySvg(view: TopologyView): string {
  const { boxes, width, height } = layout(view);
  const lines = view.links.flatMap((l) => {
    const from = boxes.get(l.from);
    const to = boxes.get(l.to);
    if (!from || !to) return [];
    const a = centre(from);
    const b = centre(to);
    const dash = l.active ? '' : ' stroke-dasharray="6 5"';
    return [
      `<line x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" stroke="${l.active ? '#475569' : '#cbd5e1'}" stroke-width="${l.active ? 2 : 1.5}"${dash}/>`,
    ];
  });
  const nodes: string[] = [];
  const client = boxes.get('client');
  if (view.client && client) nodes.push(node('client', `${view.client.name}: the internet`, client, '#475569'));
  const vip = boxes.get('vip');
  if (view.vip && vip) {
    const holder = view.vip.holder ? `on ${view.vip.holder}` : 'held by NO load balancer';
    nodes.push(
      node('vip', `VIP ${view.vip.address} ${holder}`, vip, view.vip.holder ? '#1d4ed8' : HEALTH_COLOURS.down),
    );
  }
  const hosts = view.hosts.map((h) => hostBox(h, boxes.get(h.name)!));
  const legend = (['up', 'degraded', 'down'] as const).map(
    (health, i) =>
      `<circle cx="${MARGIN + 6 + i * 110}" cy="${height - 14}" r="6" fill="${HEALTH_COLOURS[health]}"/>` +
      `<text x="${MARGIN + 16 + i * 110}" y="${height - 10}" font-size="12" ${FONT} fill="#374151">${health}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(`topology of ${view.name}`)}">`,
    ...lines,
    ...nodes,
    ...hosts,
    ...legend,
    '</svg>',
  ].join('\n');
}
