"""The review page (one self-contained HTML document; kept in Python so it ships without package data)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eqvl build review</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f2; color: #222; }
 header { display: flex; gap: 1.5em; align-items: baseline; padding: .8em 1.2em; background: #263238; color: #eceff1; }
 header h1 { font-size: 1.1em; margin: 0; }
 #counts span { margin-right: 1em; }
 main { padding: 1em 1.2em; }
 .twin { display: flex; gap: 1.2em; }
 figure { flex: 1; margin: 0; background: #fff; border-radius: 6px; padding: .8em; box-shadow: 0 1px 3px #0002; }
 figure img { width: 100%; max-height: 52vh; object-fit: contain; image-rendering: pixelated; background: #ddd; }
 figcaption { font-size: 1.15em; margin-top: .6em; min-height: 2.6em; }
 #meta { color: #555; margin: .6em 0; font-size: .9em; }
 #state { font-weight: bold; padding: .15em .6em; border-radius: 4px; }
 .accept { background: #c8e6c9; color: #1b5e20; } .reject { background: #ffcdd2; color: #b71c1c; }
 .none { background: #e0e0e0; color: #424242; }
 kbd { background: #fff; border: 1px solid #999; border-radius: 3px; padding: 0 .35em; font-size: .9em; }
 #help { margin-top: 1em; color: #444; }
</style></head>
<body>
<header><h1>eqvl build review</h1><div id="counts"></div><div id="position"></div></header>
<main>
 <div id="meta"><span id="state" class="none">undecided</span> <span id="twin-id"></span> <span id="detail"></span></div>
 <div class="twin">
  <figure><img id="img0" alt="image 0"><figcaption id="cap0"></figcaption></figure>
  <figure><img id="img1" alt="image 1"><figcaption id="cap1"></figcaption></figure>
 </div>
 <div id="error" style="color:#b71c1c;font-weight:bold"></div>
 <div id="help"><kbd>a</kbd> accept &nbsp; <kbd>r</kbd> reject &nbsp; <kbd>u</kbd> undo &nbsp;
  <kbd>&larr;</kbd>/<kbd>&rarr;</kbd> previous / next &nbsp; <kbd>n</kbd> next undecided.
  Each key press is saved at once (<span id="file"></span>).</div>
</main>
<script>
// Key presses are handled one after another (`queue`): each takes the twin shown at that moment, records
// the decision with that twin's id, and moves on at once; the saves go to the server in order (`saving`),
// so fast typing never lands two decisions on one twin. Twins are fetched a page at a time.
const PAGE = 200;
let total = 0, pos = 0, pending = 0, saved = 0;
const cache = new Map();
let queue = Promise.resolve(), saving = Promise.resolve();
const $ = (id) => document.getElementById(id);
async function load(i) {
  if (!cache.has(i)) {
    const start = Math.floor(i / PAGE) * PAGE;
    const r = await fetch("/api/twins?offset=" + start + "&limit=" + PAGE);
    const data = await r.json();
    data.twins.forEach((t, k) => cache.set(start + k, t));
    total = data.total;
  }
  return cache.get(i);
}
async function show() {
  const t = await load(pos); if (!t) return;
  $("img0").src = t.image_0; $("img1").src = t.image_1;
  $("cap0").textContent = t.caption_0; $("cap1").textContent = t.caption_1;
  $("twin-id").textContent = t.id;
  const where = [t.video, t.rule].filter(Boolean).join(" \u00b7 ");
  $("detail").textContent = where ? "(" + where + ")" : "";
  const st = $("state"); st.textContent = t.decision ? t.decision + "ed" : "undecided";
  st.className = t.decision || "none";
  $("position").textContent = (pos + 1) + " / " + total;
}
function setCounts(c) {
  $("counts").innerHTML = "<span>accepted " + c.accepted + "</span><span>rejected " + c.rejected +
    "</span><span>undecided " + c.undecided + "</span>";
  document.body.dataset.accepted = c.accepted; document.body.dataset.rejected = c.rejected;
}
function setPending(delta) { pending += delta; document.body.dataset.pending = pending; }
async function save(id, decision) {
  const r = await fetch("/api/decision", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({id: id, decision: decision})});
  setPending(-1);
  if (!r.ok) { $("error").textContent = "NOT SAVED (" + id + "): " + (await r.text()); return; }
  const body = await r.json();
  saved += 1; document.body.dataset.saved = saved; setCounts(body.counts);
}
async function decide(decision) {
  const t = await load(pos); if (!t) return;
  const id = t.id;  // the decision names this twin, whatever the page shows by the time the server answers
  t.decision = decision === "undo" ? null : decision;
  setPending(1);
  saving = saving.then(() => save(id, decision)).catch((e) => { $("error").textContent = "NOT SAVED: " + e; });
  if (decision !== "undo" && pos < total - 1) pos += 1;
  await show();
}
async function nextUndecided() {
  await saving;  // the server's answer must include every decision made so far
  const r = await (await fetch("/api/next_undecided?after=" + ((pos + 1) % total))).json();
  if (r.index !== null) pos = r.index;
  await show();
}
async function handle(key) {
  if (key === "a") await decide("accept");
  else if (key === "r") await decide("reject");
  else if (key === "u") await decide("undo");
  else if (key === "ArrowRight") { pos = Math.min(pos + 1, total - 1); await show(); }
  else if (key === "ArrowLeft") { pos = Math.max(pos - 1, 0); await show(); }
  else if (key === "n") await nextUndecided();
}
document.addEventListener("keydown", (e) => {
  const key = e.key;
  queue = queue.then(() => handle(key)).catch((err) => { $("error").textContent = String(err); });
});
fetch("/api/twins?offset=0&limit=" + PAGE).then((r) => r.json()).then(async (data) => {
  data.twins.forEach((t, k) => cache.set(k, t)); total = data.total;
  $("file").textContent = data.decisions_file; setCounts(data.counts); setPending(0);
  pos = data.first_undecided === null ? 0 : data.first_undecided;
  await show(); document.body.dataset.ready = "1";
});
</script>
</body></html>
"""
