/** Markdown table and SVG chart of a benchmark report (no dependencies). */
import { fmt, fmtMs } from './proc';
import { SYSTEMS, WORKLOADS, type RunResult, type Settings, type SystemName } from './load';

export interface Report {
  name: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  status: 'complete' | 'aborted';
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; os: string; postgres: string };
  settings: Settings & { systems: string[]; workloads: string[]; sizes: number[] };
  /** The commit, and uncommitted files under src/ and example/ when the run started. */
  code?: { commit: string; uncommitted: string[]; fingerprint: string; changedDuringRun: boolean };
  runs: RunResult[];
}

const COLORS: Record<SystemName, string> = { live: '#2563eb', naive: '#dc2626', limit: '#16a34a' };

const kb = (bytes: number | undefined) => (bytes === undefined ? '–' : fmt(bytes / 1024, 1));
const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : fmt(bytes / 1048576, 0));

// ---------------------------------------------------------------- markdown

export function markdown(report: Report): string {
  const { machine: m, settings: s } = report;
  const lines: string[] = [];
  lines.push(`# Benchmark \`${report.name}\`${report.status === 'aborted' ? ' (ABORTED, partial)' : ''}`);
  lines.push('');
  lines.push(`\`${report.command}\` — ${report.startedAt} → ${report.finishedAt}`);
  lines.push('');
  lines.push(`${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, PostgreSQL ${m.postgres}. ` +
    'Server, load client and PostgreSQL share these cores.');
  if (report.code) {
    const c = report.code;
    lines.push('');
    lines.push(`Code: commit \`${c.commit}\`${c.uncommitted.length ? ` with uncommitted changes in ${c.uncommitted.map((f) => `\`${f}\``).join(', ')}` : ''}.` +
      (c.changedDuringRun ? ' **src/ or example/ changed during the run: the live server runs may not all use the same code.**' : ''));
  }
  lines.push('');
  lines.push(`Phase A: ${s.writesA} writes, one every ${s.intervalMs} ms (open loop). Phase B: ${s.writesB} writes, ${s.inFlight} in flight. ` +
    `Each run: a fresh server process, ${s.warmupWrites} warm-up writes, N subscribers connected in batches of ${s.connectBatch}, ` +
    `marker writes until every subscriber receives, ${s.warmupWrites} warm-up writes, phase A, phase B; then every subscriber disconnects and ` +
    `${s.calibrationWrites} more writes measure the write cost without subscribers.`);
  lines.push('');
  for (const [name, text] of Object.entries(WORKLOADS)) if (s.workloads.includes(name)) lines.push(`- **${name}**: ${text}`);
  for (const [name, sys] of Object.entries(SYSTEMS)) if (s.systems.includes(name)) lines.push(`- **${name}**: ${sys.description}`);
  lines.push('');
  lines.push('| workload | N | system | phase | delivered / expected | dup | bad | p50 ms | p95 ms | p99 ms | max ms | deliveries/s | server CPU s | **µs / delivery** | net µs / del. | server ms / write | client CPU | PG CPU s |');
  lines.push('|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const notes: string[] = [];
  for (const r of report.runs) {
    if (r.status !== 'ok' && r.phases.length === 0) {
      lines.push(`| ${r.workload} | ${r.n} | ${r.system} | – | ${r.status}: ${(r.error ?? '').replace(/\|/g, '/')} | | | | | | | | | | | | | |`);
      continue;
    }
    for (const p of r.phases) {
      const bad = p.wrong + p.violations;
      const delivered = `${p.delivered.toLocaleString('en-US')} / ${p.expected.toLocaleString('en-US')}${p.incomplete ? ' ⚠' : ''}`;
      const client = `${p.clientCpuPct}%${p.clientBound ? ' ⚑' : ''}`;
      lines.push(
        `| ${r.workload} | ${r.n} | ${r.system} | ${p.phase} | ${delivered} | ${p.duplicates} | ${bad} | ${fmtMs(p.latencyMs.p50)} | ${fmtMs(p.latencyMs.p95)} | ` +
          `${fmtMs(p.latencyMs.p99)} | ${fmtMs(p.latencyMs.max)} | ${p.deliveriesPerS.toLocaleString('en-US')} | ${fmt(p.serverCpuS, 2)} | ` +
          `**${fmt(p.serverCpuUsPerDelivery, 1)}** | ${fmt(p.serverCpuUsPerDeliveryNet, 1)} | ${fmt(p.serverCpuMsPerWrite, 2)} | ${client} | ${fmt(p.postgresCpuS, 2)} |`,
      );
      if (p.clientBound) notes.push(`${r.workload} N=${r.n} ${r.system} phase ${p.phase}: the load client used ${p.clientCpuPct}% of a core (event-loop delay p99 ${fmtMs(p.clientLoopDelayP99Ms)} ms) — it, not the server, may be the bottleneck; latency and deliveries/s are then lower bounds of what the server can do.`);
      if (p.otherCpuPct > 25) notes.push(`${r.workload} N=${r.n} ${r.system} phase ${p.phase}: other processes used ${p.otherCpuPct}% of a core meanwhile — the machine was not quiet.`);
      if (p.incomplete) notes.push(`${r.workload} N=${r.n} ${r.system} phase ${p.phase}: ended before every delivery arrived (${p.lost} missing${p.writeErrors ? `, ${p.writeErrors} failed writes` : ''}).`);
      if (p.violations) notes.push(`${r.workload} N=${r.n} ${r.system} phase ${p.phase}: **${p.violations} permission violations**.`);
    }
    if ((r.attempt ?? 1) > 1) notes.push(`${r.workload} N=${r.n} ${r.system}: attempt ${r.attempt} (earlier attempts were disturbed by other processes).`);
    if ((r.writeCostOtherCpuPct ?? 0) > 25) notes.push(`${r.workload} N=${r.n} ${r.system}: other processes used ${r.writeCostOtherCpuPct}% of a core while the write cost was measured; *net* is unreliable.`);
    if (r.status !== 'ok') notes.push(`${r.workload} N=${r.n} ${r.system}: ${r.status}${r.error ? ` — ${r.error}` : ''}`);
    if (r.protocolErrors || r.unexpectedCloses) notes.push(`${r.workload} N=${r.n} ${r.system}: ${r.protocolErrors} protocol errors, ${r.unexpectedCloses} connections closed by the server.`);
    if ((r.setupViolations ?? 0) + (r.setupWrong ?? 0) > 0) notes.push(`${r.workload} N=${r.n} ${r.system}: ${r.setupViolations} violations / ${r.setupWrong} bad deliveries during marker and warm-up writes.`);
  }
  lines.push('');
  lines.push('Latency = receive time in the load client − the time it sent that write. *µs / delivery* = server CPU (utime+stime from /proc) ÷ deliveries; ' +
    '*net* subtracts the server CPU of the same number of writes without subscribers (the write cost, measured per run after the phases); ' +
    '*server ms / write* = all server CPU of the phase ÷ writes. ' +
    '*bad* = wrong content + permission violations; *client CPU* = the load client\'s CPU as % of one core (⚑ over 90%: it may be the bottleneck); ' +
    '*PG CPU* = CPU of the PostgreSQL backends of the benchmark database. ⚠ = incomplete.');
  lines.push('');
  lines.push('| workload | N | system | subscriptions | connect + subscribe s | server RSS idle → subscribed → after, MB | **KB / subscriber** | write cost µs (no subscribers) | ops refused / silent |');
  lines.push('|---|---:|---|---:|---:|---|---:|---:|---|');
  for (const r of report.runs) {
    if (r.rssIdleBytes === undefined) continue;
    lines.push(
      `| ${r.workload} | ${r.n} | ${r.system} | ${r.subscriptions ?? '–'} | ${fmt(r.connectS, 1)} | ${mb(r.rssIdleBytes)} → ${mb(r.rssSubscribedBytes)} → ${mb(r.rssAfterBytes)} | ` +
        `**${kb(r.rssBytesPerSubscriber)}** | ${fmt(r.writeCostUs, 0)} | ${r.workload === 'W3' ? `${r.refusedOps ?? 0} / ${r.silentOps ?? 0}` : '–'} |`,
    );
  }
  lines.push('');
  lines.push('RSS is read after a full GC in the server (`--expose-gc`). KB / subscriber = (subscribed − idle) ÷ N connections. ' +
    'In W3 every connection opens two subscriptions (the public and the private list); anonymous subscriptions of the private list must never deliver: ' +
    'a system may refuse them (error) or accept them and stay silent.');
  if (s.workloads.includes('W2')) {
    notes.unshift('W2: each write reaches only 10 subscribers, so *µs / delivery* there is mostly the write itself (HTTP, GraphQL, ORM, SQL), and ' +
      '*net* is the difference of two close numbers (about 10 × 10 µs against a write cost of milliseconds): too noisy to read. ' +
      'What W2 shows is *server ms / write* staying flat as N grows (no work proportional to all subscribers per event) and the latency staying low. ' +
      'In phase A the server idles between writes; its idle-time work (V8 GC and the like) lands on few deliveries.');
  }
  if (notes.length) {
    lines.push('');
    lines.push('**Notes**');
    lines.push('');
    for (const note of notes) lines.push(`- ${note}`);
  }
  lines.push('');
  lines.push(`![chart](${report.name}.svg)`);
  lines.push('');
  return lines.join('\n');
}

// ---------------------------------------------------------------- SVG

interface Panel {
  title: string;
  unit: string;
  log: boolean;
  value: (r: RunResult) => { v: number; flag?: string } | undefined;
}

const phaseOf = (r: RunResult, phase: 'A' | 'B') => r.phases.find((p) => p.phase === phase);

const PANELS: Panel[] = [
  {
    title: 'Server CPU µs per delivery, phase B ↓', unit: 'µs', log: true,
    value: (r) => { const p = phaseOf(r, 'B') ?? phaseOf(r, 'A'); return p && { v: p.serverCpuUsPerDelivery }; },
  },
  {
    title: 'Latency p99 ms, phase A (20 writes/s) ↓', unit: 'ms', log: true,
    value: (r) => { const p = phaseOf(r, 'A'); return p && { v: p.latencyMs.p99, flag: p.clientBound ? '⚑' : p.incomplete ? '⚠' : undefined }; },
  },
  {
    title: 'Deliveries per second, phase B ↑', unit: '/s', log: true,
    value: (r) => { const p = phaseOf(r, 'B'); return p && { v: p.deliveriesPerS, flag: p.clientBound ? '⚑' : undefined }; },
  },
  {
    title: 'Server RSS KB per subscriber ↓', unit: 'KB', log: false,
    value: (r) => (r.rssBytesPerSubscriber === undefined ? undefined : { v: r.rssBytesPerSubscriber / 1024 }),
  },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function label(v: number): string {
  if (v >= 1e6) return `${fmt(v / 1e6, 1)}M`;
  if (v >= 10_000) return `${fmt(v / 1000, 0)}k`;
  if (v >= 1000) return `${fmt(v / 1000, 1)}k`;
  if (v >= 100) return fmt(v, 0);
  if (v >= 10) return fmt(v, 1);
  return fmt(v, 2);
}

function tickLabel(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1000) return `${v / 1000}k`;
  return String(Number(v.toPrecision(3)));
}

export function svg(report: Report): string {
  const systems = report.settings.systems as SystemName[];
  const groups: { key: string; runs: Map<string, RunResult> }[] = [];
  for (const r of report.runs) {
    const key = `${r.workload} N=${r.n}`;
    let g = groups.find((x) => x.key === key);
    if (!g) groups.push((g = { key, runs: new Map() }));
    g.runs.set(r.system, r);
  }
  const barW = 22;
  const groupW = Math.max(90, systems.length * barW + 30);
  const left = 56;
  const columns = groups.length <= 3 ? 2 : 1;
  const panelW = Math.max(columns === 2 ? 360 : 720, left + groups.length * groupW + 20);
  const width = columns * panelW;
  const panelH = 210;
  const plotH = 140;
  const top = 80;
  const rows = Math.ceil(PANELS.length / columns);
  const height = top + rows * panelH + 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="12" y="22" font-size="15" font-weight="600">typeorm-graphql-live fan-out benchmark — ${esc(report.name)}${report.status === 'aborted' ? ' (partial)' : ''}</text>`);
  out.push(`<text x="12" y="40" fill="#555">${esc(`${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}, PostgreSQL ${report.machine.postgres.split(' ')[0]}, ${report.startedAt.slice(0, 10)}${report.code ? `, commit ${report.code.commit}${report.code.uncommitted.length ? '+' : ''}` : ''}`)}</text>`);
  out.push(`<text x="12" y="55" fill="#555">${esc('Log scales except memory; ↓ lower is better, ↑ higher is better. ⚑ load client over 90% of a core, ⚠ incomplete, × no result.')}</text>`);
  let lx = 12;
  for (const s of systems) {
    out.push(`<rect x="${lx}" y="62" width="10" height="10" fill="${COLORS[s]}"/><text x="${lx + 14}" y="71">${s}</text>`);
    lx += 70;
  }
  PANELS.forEach((panel, pi) => {
    const x0 = (pi % columns) * panelW;
    const y0 = top + Math.floor(pi / columns) * panelH;
    const plotLeft = x0 + left;
    const plotRight = x0 + panelW - 12;
    const base = y0 + 30 + plotH;
    out.push(`<text x="${x0 + 12}" y="${y0 + 14}" font-size="12" font-weight="600">${esc(panel.title)}</text>`);
    const values = groups.flatMap((g) => systems.map((s) => { const r = g.runs.get(s); return r ? panel.value(r)?.v : undefined; }))
      .filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
    if (values.length === 0) return;
    let scale: (v: number) => number;
    let ticks: number[];
    if (panel.log) {
      const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
      const hi = 10 ** Math.ceil(Math.log10(Math.max(...values) * 1.05));
      const span = Math.log10(hi) - Math.log10(lo) || 1;
      scale = (v) => plotH * ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span);
      ticks = [];
      for (let t = lo; t <= hi * 1.001; t *= 10) ticks.push(t);
    } else {
      const max = Math.max(...values) * 1.15;
      const step = 10 ** Math.floor(Math.log10(max));
      const niceStep = max / step > 5 ? step * 2 : max / step > 2 ? step : step / 2;
      ticks = [];
      for (let t = 0; t <= max + niceStep; t += niceStep) ticks.push(t);
      const hi = ticks[ticks.length - 1] || max;
      scale = (v) => (plotH * v) / hi;
    }
    for (const t of ticks) {
      const y = base - scale(t);
      out.push(`<line x1="${plotLeft}" x2="${plotRight}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e7eb"/>`);
      out.push(`<text x="${plotLeft - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#666">${tickLabel(t)}</text>`);
    }
    out.push(`<line x1="${plotLeft}" x2="${plotRight}" y1="${base}" y2="${base}" stroke="#999"/>`);
    groups.forEach((g, gi) => {
      const gx = plotLeft + gi * groupW + (groupW - systems.length * barW) / 2;
      systems.forEach((s, si) => {
        const r = g.runs.get(s);
        const x = gx + si * barW;
        const val = r && panel.value(r);
        if (!val || !Number.isFinite(val.v)) {
          out.push(`<text x="${x + barW / 2 - 1}" y="${base - 4}" text-anchor="middle" fill="${COLORS[s]}">×</text>`);
          return;
        }
        const h = Math.max(1, scale(val.v));
        out.push(`<rect x="${x}" y="${(base - h).toFixed(1)}" width="${barW - 3}" height="${h.toFixed(1)}" fill="${COLORS[s]}"><title>${esc(`${g.key} ${s}: ${label(val.v)} ${panel.unit}`)}</title></rect>`);
        out.push(`<text x="${x + (barW - 3) / 2}" y="${(base - h - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${label(val.v)}${val.flag ?? ''}</text>`);
      });
      out.push(`<text x="${plotLeft + gi * groupW + groupW / 2}" y="${base + 14}" text-anchor="middle" fill="#333">${esc(g.key)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
