// The system page: polls /system/stats every second and draws events/s per path.
// Rates are computed here from successive counter readings, so the server keeps no history.
const SERIES = [
  { key: 'toHosts', label: 'guest → host (uploads)', color: '#2f6fde' },
  { key: 'toGuests', label: 'host → guest (downloads)', color: '#1a9b5b' },
  { key: 'hostToHost', label: 'host ↔ host (links served)', color: '#c2561a' },
];
const HISTORY = 60;
const points = [];
let previous = null;

function rate(now, before, f) {
  const dt = (now.at - before.at) / 1000;
  return dt > 0 ? Math.max(0, (f(now) - f(before)) / dt) : 0;
}

function hostEvents(s) {
  return Object.values(s.services || {}).reduce((t, x) => t + (x.eventsIn || 0) + (x.eventsOut || 0), 0);
}

function draw(canvas) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(10, ...points.flatMap((p) => SERIES.map((s) => p[s.key])));
  ctx.strokeStyle = '#e7e9ef';
  ctx.fillStyle = '#6b7385';
  ctx.font = '11px system-ui';
  for (let i = 0; i <= 4; i++) {
    const y = height - (i / 4) * (height - 16) - 2;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(width, y); ctx.stroke();
    ctx.fillText(String(Math.round((max * i) / 4)), 4, y - 2);
  }
  for (const s of SERIES) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => {
      const x = (i / (HISTORY - 1)) * width;
      const y = height - (p[s.key] / max) * (height - 16) - 2;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function render(now, before) {
  const tbody = document.getElementById('services');
  tbody.replaceChildren();
  for (const [name, s] of Object.entries(now.services || {})) {
    const b = before?.services?.[name];
    const tr = document.createElement('tr');
    const dt = before ? (now.at - before.at) / 1000 : 0;
    const perSec = (a, z) => (b && s.up && b.up && dt > 0 ? Math.max(0, (a - z) / dt).toFixed(0) : '–');
    tr.append(cell(name), cell(s.up ? 'yes' : 'no'), cell(s.up ? String(s.links) : '–'),
      cell(perSec(s.eventsIn, b?.eventsIn)), cell(perSec(s.eventsOut, b?.eventsOut)), cell(s.up ? String(s.errors) : '–'));
    tbody.append(tr);
  }
  const gw = now.gateway;
  const tr = document.createElement('tr');
  tr.append(cell('gateway (guest links)'), cell('yes'), cell(String(gw.guestLinks)), cell(''), cell(''), cell(''));
  tbody.prepend(tr);
  const list = document.getElementById('refusals');
  list.replaceChildren();
  const reasons = { ...gw.refusals, ...Object.fromEntries(Object.entries(gw.linkErrors).map(([k, v]) => [`link.error ${k}`, v])) };
  if (Object.keys(reasons).length === 0) {
    const li = document.createElement('li');
    li.textContent = 'none so far';
    list.append(li);
  }
  for (const [reason, n] of Object.entries(reasons)) {
    const li = document.createElement('li');
    li.textContent = `${reason}: ${n}`;
    list.append(li);
  }
}

async function tick() {
  const status = document.getElementById('status');
  try {
    const res = await fetch('/system/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const now = await res.json();
    status.textContent = 'live';
    status.classList.remove('down');
    if (previous) {
      points.push({
        toHosts: rate(now, previous, (s) => s.gateway.eventsFromGuests),
        toGuests: rate(now, previous, (s) => s.gateway.eventsToGuests),
        hostToHost: rate(now, previous, hostEvents),
      });
      if (points.length > HISTORY) points.shift();
      draw(/** @type {HTMLCanvasElement} */ (document.getElementById('chart')));
    }
    render(now, previous);
    previous = now;
  } catch (e) {
    status.textContent = `cannot read the stats (${e.message}); retrying`;
    status.classList.add('down');
  }
}

document.getElementById('legend').append(...SERIES.map((s) => {
  const li = document.createElement('li');
  const swatch = document.createElement('span');
  swatch.style.background = s.color;
  li.append(swatch, s.label);
  return li;
}));
tick();
setInterval(tick, 1000);
