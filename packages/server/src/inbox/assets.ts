// The inbox's one stylesheet and one script, served from the server itself (the content security
// policy allows nothing else): small enough to read, no build step.

export const inboxCss = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #5b6470; --line: #d7dce2;
  --accent: #0b57d0; --warn: #b3261e; --ok: #146c2e; --chip: #eef1f5; font-family: system-ui, sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ee; --bg: #14171b; --muted: #9aa4b0;
  --line: #2c333b; --accent: #8ab4f8; --warn: #f2b8b5; --ok: #7dd491; --chip: #222830; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem;
  border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; margin-right: auto; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: .8rem; flex-wrap: wrap; align-items: center; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible,
summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .3rem; }
h1 { font-size: 1.4rem; margin: .3rem 0 .8rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
ul.tasks { list-style: none; padding: 0; margin: 0; }
ul.tasks li { border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .9rem; margin-bottom: .6rem; }
ul.tasks a.title { font-weight: 600; font-size: 1.05rem; }
.meta { color: var(--muted); font-size: .9rem; }
.chip { display: inline-block; background: var(--chip); border-radius: 1rem; padding: 0 .55rem; font-size: .8rem; margin-right: .3rem; }
.chip.warn { color: var(--warn); font-weight: 600; } .chip.ok { color: var(--ok); font-weight: 600; }
pre { background: var(--chip); padding: .7rem; border-radius: .4rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
code.digest { word-break: break-all; font-size: .85rem; }
code { overflow-wrap: anywhere; }
form.decide { border: 1px solid var(--line); border-radius: .5rem; padding: .8rem; margin: .8rem 0; }
label { display: block; font-weight: 600; margin: .6rem 0 .2rem; }
label.inline { display: inline-flex; gap: .4rem; align-items: center; font-weight: 400; }
input[type=text], input[type=email], input[type=number], input[type=url], input[type=date], select, textarea {
  width: 100%; font: inherit; padding: .45rem; border: 1px solid var(--line); border-radius: .35rem;
  background: var(--bg); color: var(--fg); }
textarea { min-height: 4.5rem; }
.buttons { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .8rem; }
button { font: inherit; padding: .5rem 1rem; border-radius: .4rem; border: 1px solid var(--line);
  background: var(--chip); color: var(--fg); cursor: pointer; min-height: 2.5rem; }
button.primary { background: var(--accent); color: var(--bg); border-color: var(--accent); }
button.danger { color: var(--warn); }
button.link { background: none; border: none; color: var(--accent); padding: 0; min-height: 0; text-decoration: underline; }
.alert { border-left: 4px solid var(--warn); padding: .5rem .8rem; background: var(--chip); margin: .8rem 0; }
.notice { border-left: 4px solid var(--ok); padding: .5rem .8rem; background: var(--chip); margin: .8rem 0; }
ol.timeline { list-style: none; padding: 0; border-left: 2px solid var(--line); margin-left: .4rem; }
ol.timeline li { padding: .2rem 0 .6rem 1rem; position: relative; }
ol.timeline li::before { content: ''; position: absolute; left: -.4rem; top: .55rem; width: .7rem; height: .7rem;
  border-radius: 50%; background: var(--accent); }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; }
svg.chart { max-width: 100%; height: auto; }
svg.chart rect { fill: var(--accent); } svg.chart text { fill: var(--fg); font-size: 11px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 30rem) { main { padding: .7rem; } .buttons button { flex: 1 1 100%; } }
`;

// Live updates: the page listens to /live (SSE, only "something changed" — never the data itself)
// and reloads its <main> when nothing is being typed, so a form in progress is never lost.
export const inboxJs = `
(() => {
  const live = document.body.dataset.live;
  if (!live || !('EventSource' in window)) return;
  const status = document.getElementById('live-status');
  let dirty = false;
  document.addEventListener('input', (event) => { if (event.target.closest('form')) dirty = true; });
  async function refresh() {
    if (dirty) { if (status) status.textContent = 'Updated elsewhere — reload to see the changes.'; return; }
    const response = await fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
    if (!response.ok) return;
    const next = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
    const main = document.querySelector('main');
    if (!next || !main) return;
    const focused = document.activeElement && document.activeElement.id;
    main.replaceWith(next);
    if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
    if (status) status.textContent = 'Updated ' + new Date().toLocaleTimeString();
  }
  let timer;
  const source = new EventSource(live);
  source.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
})();
`;
