"""The search page served at `/`: one self-contained HTML file (no external assets, no build step).

Text or image query, a `where` filter, k, optional re-ranking; results as a grid of thumbnails
with captions, scores and the stage that produced each score, plus the server's timing.
Results are inserted with `textContent`, never as HTML, so captions cannot inject markup.
A server started with an API key answers 401; the page then asks for the key once and keeps
it in a SameSite=Strict cookie, which also authorises the thumbnail requests.
"""

PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eqvl index</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
 header { background: #1d2330; color: #fff; padding: 12px 24px; display: flex; gap: 16px; align-items: baseline; }
 header h1 { font-size: 20px; margin: 0; } header span { opacity: .75; font-size: 13px; }
 form { display: flex; flex-wrap: wrap; gap: 8px; padding: 16px 24px; background: #fff; border-bottom: 1px solid #dde; }
 input[type=text] { padding: 8px; font-size: 15px; border: 1px solid #bbc; border-radius: 6px; }
 #text { flex: 1 1 340px; } #where { width: 220px; } select, button { padding: 8px 12px; font-size: 15px; }
 button { background: #2f6fde; color: #fff; border: 0; border-radius: 6px; cursor: pointer; }
 #status { padding: 8px 24px; font-size: 14px; color: #445; min-height: 20px; } #status.error { color: #b00020; }
 #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 14px; padding: 8px 24px 24px; }
 figure { margin: 0; background: #fff; border-radius: 8px; box-shadow: 0 1px 3px #0002; overflow: hidden; }
 figure img { width: 100%; aspect-ratio: 1; object-fit: cover; background: #ddd; display: block; }
 figcaption { padding: 8px; font-size: 13px; } .score { font-variant-numeric: tabular-nums; color: #2f6fde; }
 .stage, .meta { color: #778; font-size: 11px; display: block; }
</style></head>
<body>
<header><h1>eqvl index</h1><span id="about">loading...</span></header>
<form id="form">
 <input type="text" id="text" name="text" placeholder="describe an image, e.g. a red square" autocomplete="off">
 <input type="file" id="image" name="image" accept="image/*" title="or search by image">
 <input type="text" id="where" name="where" placeholder="where: key=value, key=value">
 <select id="k" name="k"><option>5</option><option selected>10</option><option>20</option><option>50</option></select>
 <label id="rerank-box" hidden><input type="checkbox" id="rerank"> re-rank</label>
 <button type="submit" id="go">Search</button>
</form>
<div id="status"></div>
<div id="grid"></div>
<script>
const $ = (id) => document.getElementById(id);
fetch('/health').then(r => {
  if (r.status === 401) {  // the server wants an API key: kept in a same-site cookie for this page and its thumbnails
    const key = window.prompt('API key for this index');
    if (key) { document.cookie = `eqvl_key=${encodeURIComponent(key)}; SameSite=Strict; path=/`; location.reload(); }
    throw new Error('an API key is needed');
  }
  return r.json();
}).then(h => {
  $('about').textContent = `${h.count} images · ${h.model} · ${h.index} (${h.factory}) · filter columns: ${h.columns.join(', ')}`;
  $('rerank-box').hidden = !h.rerank;
});
function wherePairs() {
  return $('where').value.split(',').map(s => s.trim()).filter(s => s.length > 0);
}
function show(result) {
  const grid = $('grid'); grid.replaceChildren();
  for (const hit of result.hits) {
    const fig = document.createElement('figure'); fig.className = 'hit';
    const img = document.createElement('img'); img.src = hit.thumb; img.alt = hit.caption || hit.path; img.loading = 'lazy';
    const cap = document.createElement('figcaption');
    const score = document.createElement('span'); score.className = 'score'; score.textContent = hit.score.toFixed(4);
    const text = document.createElement('span'); text.textContent = ' ' + (hit.caption || hit.path.split('/').pop());
    const stage = document.createElement('span'); stage.className = 'stage'; stage.textContent = `id ${hit.id} · ${hit.stage}`;
    cap.append(score, text, stage);
    const extra = Object.entries(hit.meta || {}).map(([k, v]) => `${k}=${v}`).join(' ');
    if (extra) { const m = document.createElement('span'); m.className = 'meta'; m.textContent = extra; cap.append(m); }
    fig.append(img, cap); grid.append(fig);
  }
  $('status').className = '';
  $('status').textContent = `${result.count} results in ${result.took_ms.toFixed(1)} ms (server)` + (result.reranked ? ' · re-ranked' : '');
}
function fail(message) { $('grid').replaceChildren(); $('status').className = 'error'; $('status').textContent = message; }
$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('status').className = ''; $('status').textContent = 'searching...';
  const k = $('k').value, file = $('image').files[0], rerank = $('rerank').checked;
  let response;
  try {
    if (file && !$('text').value.trim()) {
      const body = new FormData(); body.append('image', file); body.append('k', k);
      if (rerank) body.append('rerank', '1');
      for (const w of wherePairs()) body.append('where', w);
      response = await fetch('/search', {method: 'POST', body});
    } else {
      const params = new URLSearchParams({text: $('text').value, k});
      if (rerank) params.append('rerank', 'true');
      for (const w of wherePairs()) params.append('where', w);
      response = await fetch('/search?' + params.toString());
    }
    const result = await response.json();
    if (!response.ok) { fail(result.error || response.statusText); return; }
    show(result);
  } catch (err) { fail(String(err)); }
});
</script>
</body></html>
"""
