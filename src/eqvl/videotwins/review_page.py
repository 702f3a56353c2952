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
 <div id="help"><kbd>a</kbd> accept &nbsp; <kbd>r</kbd> reject &nbsp; <kbd>u</kbd> undo &nbsp;
  <kbd>&larr;</kbd>/<kbd>&rarr;</kbd> previous / next &nbsp; <kbd>n</kbd> next undecided.
  Each key press is saved at once (<span id="file"></span>).</div>
</main>
<script>
let twins = [], pos = 0;
const $ = (id) => document.getElementById(id);
function show() {
  const t = twins[pos]; if (!t) return;
  $("img0").src = t.image_0; $("img1").src = t.image_1;
  $("cap0").textContent = t.caption_0; $("cap1").textContent = t.caption_1;
  $("twin-id").textContent = t.id;
  const where = [t.video, t.rule].filter(Boolean).join(" \\u00b7 ");
  $("detail").textContent = where ? "(" + where + ")" : "";
  const st = $("state"); st.textContent = t.decision ? t.decision + "ed" : "undecided";
  st.className = t.decision || "none";
  $("position").textContent = (pos + 1) + " / " + twins.length;
}
function setCounts(c) {
  $("counts").innerHTML = "<span>accepted " + c.accepted + "</span><span>rejected " + c.rejected +
    "</span><span>undecided " + c.undecided + "</span>";
  document.body.dataset.accepted = c.accepted; document.body.dataset.rejected = c.rejected;
}
function nextUndecided(from) {
  for (let k = 0; k < twins.length; k++) { const i = (from + k) % twins.length; if (!twins[i].decision) return i; }
  return Math.min(from, twins.length - 1);
}
async function decide(decision) {
  const t = twins[pos];
  const r = await fetch("/api/decision", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({id: t.id, decision: decision})});
  if (!r.ok) { alert("not saved: " + (await r.text())); return; }
  const body = await r.json();
  t.decision = body.decision; setCounts(body.counts);
  if (decision !== "undo" && pos < twins.length - 1) pos += 1;
  show();
}
document.addEventListener("keydown", (e) => {
  if (e.key === "a") decide("accept");
  else if (e.key === "r") decide("reject");
  else if (e.key === "u") decide("undo");
  else if (e.key === "ArrowRight") { pos = Math.min(pos + 1, twins.length - 1); show(); }
  else if (e.key === "ArrowLeft") { pos = Math.max(pos - 1, 0); show(); }
  else if (e.key === "n") { pos = nextUndecided(pos + 1); show(); }
});
fetch("/api/twins").then((r) => r.json()).then((data) => {
  twins = data.twins; $("file").textContent = data.decisions_file; setCounts(data.counts);
  pos = nextUndecided(0); show(); document.body.dataset.ready = "1";
});
</script>
</body></html>
"""
