// The imagepipe demo page: plain browser APIs only (fetch, XHR for upload progress, WebCrypto,
// WebSocket, <dialog>). Status changes arrive live (live.js). What the page knows of each image
// is in `known` (the last summary or detail the API gave); the upload cards, the gallery cells
// and the detail view are drawn from it.
import { SessionUpdates, liveBadge, oneAtATime } from "./live.js";
import { LABELS, SETTLED, request } from "./api.js";
import { describe, renderDetailPanel, renderPicture, thumbSrc } from "./detail.js";
import { cardsOf, handleFiles, showCard } from "./uploads.js";

const SESSION_KEY = "imagepipe.session";
const UNDO_MS = 5_000;  // a delete waits this long for an Undo before it is sent
const params = new URLSearchParams(location.search);
const PAGE_SIZE = Math.min(100, Math.max(1, Number(params.get("pageSize")) || 24));
const page = {
  session: null,
  live: null,
  known: new Map(),  // imageId -> {image, detailed}
  order: [],  // the gallery's image ids, newest first, as listed
  nextToken: null,
  loadingMore: false,
  pendingDeletes: new Map(),  // imageId -> {timer, path, toast}
  open: null,  // the image id in the detail view
  similar: new Map(),  // imageId -> the results of GET /images/{id}/similar, once read
};

const $ = (id) => document.getElementById(id);

function newSessionId() { return "s-" + crypto.randomUUID(); }

// ---- what the page knows

function remember(image, detailed) {
  const before = page.known.get(image.imageId);
  // A summary knows less than a detail of the same status (no variants, metadata or error).
  if (before && before.detailed && !detailed && before.image.status === image.status) return before;
  const entry = { image: { ...(before ? before.image : {}), ...image }, detailed };
  page.known.set(image.imageId, entry);
  return entry;
}

function forget(imageId) {
  page.known.delete(imageId);
  page.order = page.order.filter((id) => id !== imageId);
  cellOf(imageId)?.remove();
  cardsOf(imageId).forEach((node) => node.remove());
  updateCount();
  if (page.open === imageId) closeDetail();
}

function redraw(imageId) {
  const entry = page.known.get(imageId);
  if (!entry) return;
  cardsOf(imageId).forEach((node) => showCard(node, entry.image));
  const cell = cellOf(imageId);
  if (cell) showCell(cell, entry.image);
  if (page.open === imageId) showDetail(imageId);
}

// ---- the gallery

function cellOf(imageId) {
  return $("gallery").querySelector(`.cell[data-image-id="${CSS.escape(imageId)}"]`);
}

function newCell(imageId) {
  const cell = $("cell").content.firstElementChild.cloneNode(true);
  cell.dataset.imageId = imageId;
  cell.querySelector(".open").onclick = () => openDetail(imageId);
  return cell;
}

function showCell(cell, image) {
  cell.dataset.status = image.status;
  cell.hidden = page.pendingDeletes.has(image.imageId);
  cell.querySelector(".name").textContent = image.filename;
  cell.querySelector(".open").setAttribute("aria-label", `${image.filename}: ${image.status}`);
  const status = cell.querySelector(".status");
  status.textContent = image.status === "completed" ? "" :
    (LABELS[image.status] || image.status) + (image.error ? ` — ${describe(image.error)}` : "");
  status.className = "status " + image.status;
  const img = cell.querySelector("img");
  // The inline thumbnail (a data: URI in the listing) draws the cell at once, with no request.
  const thumb = thumbSrc(image);
  if (thumb && img.getAttribute("src") !== thumb) img.src = thumb;
  img.alt = image.filename;
  // Once the variants are known: the 150 px thumbnail is sharp in a cell at 1x, the 640 px
  // variant on a denser screen, both from the CDN. Their URLs are stable (immutable keys,
  // signatures rounded to a window), so a second view finds them in the browser's cache.
  const small = (image.variants || []).find((v) => v.name === "small" && v.format === "webp");
  const thumbUrl = image.thumbnail && image.thumbnail.url;
  if (thumbUrl && small && !img.srcset) {
    img.srcset = `${thumbUrl} 150w, ${small.url} ${small.width}w`;
    img.sizes = "(max-width: 480px) 31vw, 170px";
  }
}

function updateCount() {
  const shown = page.order.filter((id) => !page.pendingDeletes.has(id)).length;
  $("count").textContent = `(${shown}${page.nextToken ? "+" : ""})`;
  $("empty").hidden = shown > 0 || Boolean(page.nextToken);
  $("more").hidden = !page.nextToken;
}

function place(ids, { atTop }) {
  const gallery = $("gallery");
  const fresh = ids.filter((id) => !page.order.includes(id));
  const cells = fresh.map((id) => newCell(id));
  if (atTop) {
    page.order = [...fresh, ...page.order];
    gallery.prepend(...cells);
  } else {
    page.order = [...page.order, ...fresh];
    gallery.append(...cells);
  }
  fresh.forEach((id) => {
    redraw(id);
    // First seen here and already final: its variants (a sharp cell) or its reason are one GET
    // away. Images still on their way are read when a message (or a poll) says they changed.
    const entry = page.known.get(id);
    if (SETTLED.has(entry.image.status) && !entry.detailed) refreshImage(id).catch(() => {});
  });
  updateCount();
}

const loadFirstPage = oneAtATime(async (session) => {
  const listing = await request("GET", `/sessions/${encodeURIComponent(session)}/images?limit=${PAGE_SIZE}`);
  if (session !== page.session) return;  // a new session was started meanwhile
  listing.images.forEach((summary) => remember(summary, false));
  const ids = listing.images.map((s) => s.imageId);
  if (page.order.length && listing.nextToken && !ids.some((id) => page.order.includes(id))) {
    // More new images than a page since the last look: the gallery starts over from the top.
    page.order = [];
    $("gallery").replaceChildren();
  }
  if (!page.order.length) page.nextToken = listing.nextToken;
  // Newest first: what this page lists that the gallery lacks is new, and goes on top.
  place(ids, { atTop: true });
  ids.forEach(redraw);
  rewatch();
});

async function loadMore() {
  if (page.loadingMore || !page.nextToken) return;
  page.loadingMore = true;
  const session = page.session;
  try {
    const query = `limit=${PAGE_SIZE}&nextToken=${encodeURIComponent(page.nextToken)}`;
    const listing = await request("GET", `/sessions/${encodeURIComponent(session)}/images?${query}`);
    if (session !== page.session) return;
    listing.images.forEach((summary) => remember(summary, false));
    page.nextToken = listing.nextToken;
    place(listing.images.map((s) => s.imageId), { atTop: false });
    rewatch();
  } catch (error) {
    toast(`could not load more: ${error.message}`);
  } finally {
    page.loadingMore = false;
  }
}

// Infinite scroll: the next page once the end of the gallery comes near. Observing again after
// each page asks once more: the end may still be in view, which alone would not fire.
const scroller = new IntersectionObserver(
  (seen) => seen.some((e) => e.isIntersecting) && loadMore(),
  { rootMargin: "400px" },
);

function rewatch() {
  scroller.unobserve($("more-zone"));
  scroller.observe($("more-zone"));
}

function refreshGallery() {
  return loadFirstPage(page.session).catch((error) => console.warn("gallery:", error.message));
}

const refreshImage = oneAtATime(async (imageId) => {
  let image;
  try {
    image = await request("GET", `/images/${imageId}`);
  } catch (error) {
    if (error.status !== 404) throw error;
    forget(imageId);  // deleted meanwhile
    return;
  }
  remember(image, true);
  redraw(imageId);
});

// ---- the detail view

function openDetail(imageId) {
  page.open = imageId;
  if (location.hash !== `#image=${imageId}`) history.replaceState(null, "", `#image=${imageId}`);
  showDetail(imageId);
  const dialog = $("detail");
  if (!dialog.open) dialog.showModal();
  // What is known shows at once; the image is read again all the same: its near-duplicates
  // change as other images complete after it (a detail read when it completed would miss
  // a copy that completed a moment later), and its URLs are stable, so nothing is downloaded
  // twice.
  refreshImage(imageId).catch((e) => toast(e.message));
  loadSimilar(imageId);
}

// "Similar" in the detail view: near-duplicates first, then images sharing what they show
// (words, locally). Read once per opening; a stack without search answers 404: none shown.
function loadSimilar(imageId) {
  request("GET", `/images/${encodeURIComponent(imageId)}/similar?limit=12`)
    .then((data) => {
      page.similar.set(imageId, data.results || []);
      if (page.open === imageId) showDetail(imageId);
    })
    .catch(() => page.similar.set(imageId, []));
}

function closeDetail() {
  page.open = null;
  if ($("detail").open) $("detail").close();
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

function showDetail(imageId) {
  const entry = page.known.get(imageId);
  const view = $("detail-view");
  const panel = $("detail-panel");
  $("detail").dataset.imageId = imageId;
  if (!entry) {
    $("detail-name").textContent = "loading…";
    view.replaceChildren();
    panel.replaceChildren();
    return;
  }
  const image = entry.image;
  $("detail-name").textContent = image.filename;
  $("detail").dataset.status = image.status;
  const shown = view.dataset.for === imageId && view.dataset.status === image.status;
  if (!shown) {
    view.dataset.for = imageId;
    view.dataset.status = image.status;
    const picture = document.createElement("picture");
    if (image.status === "completed" && image.variants && image.variants.length) {
      renderPicture(picture, image, "(min-width: 900px) 60vw, 100vw");
    } else if (thumbSrc(image)) {
      const img = document.createElement("img");
      img.src = thumbSrc(image);
      img.alt = image.filename;
      picture.append(img);
    }
    const none = document.createElement("p");
    none.className = "no-picture";
    none.textContent = image.status === "failed" ? "no picture: the image failed" : LABELS[image.status] || image.status;
    view.replaceChildren(picture.childElementCount ? picture : none);
  }
  renderDetailPanel(panel, image, {
    onDelete: () => askDelete(imageId),
    onUnlink: () => askUnlink(imageId),
    similar: page.similar.get(imageId) || [],
  });
  const at = visibleOrder().indexOf(imageId);
  $("prev").disabled = at <= 0;
  $("next").disabled = at < 0 || at >= visibleOrder().length - 1;
}

function visibleOrder() { return page.order.filter((id) => !page.pendingDeletes.has(id)); }

async function step(delta) {
  const order = visibleOrder();
  const at = order.indexOf(page.open);
  if (at < 0) return;
  if (at + delta >= order.length && page.nextToken) await loadMore();
  const next = visibleOrder()[at + delta];
  if (next) openDetail(next);
}

function wireDetail() {
  const dialog = $("detail");
  $("prev").onclick = () => step(-1);
  $("next").onclick = () => step(1);
  $("close").onclick = () => closeDetail();
  dialog.addEventListener("close", () => { if (page.open) closeDetail(); });
  dialog.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea")) return;
    if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
  });
  // Near-duplicates link to #image=<id>: open that one.
  window.addEventListener("hashchange", openFromHash);
}

function openFromHash() {
  const match = /^#image=([\w-]+)$/.exec(location.hash);
  if (match && match[1] !== page.open) openDetail(match[1]);
}

// ---- delete (with an undo) and unlink

function confirmAction(text, label) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label;
  dialog.showModal();
  $("confirm-ok").focus();
  return new Promise((resolve) => {
    const done = (answer) => { dialog.close(); resolve(answer); };
    $("confirm-ok").onclick = () => done(true);
    $("confirm-cancel").onclick = () => done(false);
    dialog.oncancel = () => resolve(false);  // Esc
  });
}

async function askDelete(imageId) {
  const name = page.known.get(imageId)?.image.filename || imageId;
  if (!(await confirmAction(`Delete ${name}? Its original, variants and links all go.`, "delete"))) return;
  deleteLater(imageId, `/images/${imageId}`, `Deleted ${name}`);
}

async function askUnlink(imageId) {
  const name = page.known.get(imageId)?.image.filename || imageId;
  if (!(await confirmAction(`Remove ${name} from this session? The image itself stays.`, "remove"))) return;
  deleteLater(imageId, `/sessions/${encodeURIComponent(page.session)}/images/${imageId}`, `Removed ${name}`);
}

// The DELETE is only sent once the undo has timed out: until then nothing has happened on the
// server, and Undo just shows the image again. Leaving the page sends what is due at once.
function deleteLater(imageId, path, text) {
  const pending = { path, timer: null, toast: null };
  page.pendingDeletes.set(imageId, pending);
  // Back to the gallery, where the toast (and the gap the image left) can be seen.
  if (page.open === imageId) closeDetail();
  redraw(imageId);
  updateCount();
  pending.toast = toast(text, { action: "undo", onAction: () => undo(imageId), ms: UNDO_MS });
  pending.timer = setTimeout(() => sendDelete(imageId), UNDO_MS);
}

function undo(imageId) {
  const pending = page.pendingDeletes.get(imageId);
  if (!pending) return;
  clearTimeout(pending.timer);
  page.pendingDeletes.delete(imageId);
  redraw(imageId);
  updateCount();
}

async function sendDelete(imageId, keepalive = false) {
  const pending = page.pendingDeletes.get(imageId);
  if (!pending) return;
  clearTimeout(pending.timer);
  pending.toast?.remove();
  try {
    await request("DELETE", pending.path, undefined, { keepalive });
    page.pendingDeletes.delete(imageId);
    forget(imageId);
  } catch (error) {
    page.pendingDeletes.delete(imageId);
    if (error.status === 404) { forget(imageId); return; }
    redraw(imageId);
    updateCount();
    toast(`not deleted: ${error.code}: ${error.message}`);
  }
}

function toast(text, { action, onAction, ms = 6_000 } = {}) {
  const node = document.createElement("div");
  node.className = "toast";
  node.setAttribute("role", "status");
  const label = document.createElement("span");
  label.textContent = text;
  node.append(label);
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action;
    button.onclick = () => { node.remove(); onAction(); };
    node.append(button);
  }
  $("toasts").append(node);
  setTimeout(() => node.remove(), ms);
  return node;
}

// ---- live updates

function onLiveMessage(message) {
  if (message.type === "image.deleted") {
    forget(message.imageId);
    return;
  }
  // The message names the change; the image (thumbnail, variants, error) is one GET away.
  refreshImage(message.imageId).catch(() => {
    remember({ imageId: message.imageId, status: message.status, error: message.error }, false);
    redraw(message.imageId);
  });
  // An image of this session not in the gallery yet: new here, or sent from elsewhere.
  if (!page.order.includes(message.imageId)) refreshGallery();
}

// While there is no socket: every image still on its way, and the gallery's first page.
async function catchUp() {
  const unsettled = [...page.known.values()]
    .filter((entry) => !SETTLED.has(entry.image.status))
    .map((entry) => entry.image.imageId);
  await Promise.all(unsettled.map(refreshImage));
  await refreshGallery();
}

function followSession(session) {
  if (page.live) page.live.stop();
  page.session = session;
  page.known.clear();
  page.order = [];
  page.nextToken = null;
  $("gallery").replaceChildren();
  localStorage.setItem(SESSION_KEY, session);
  $("session").textContent = session;
  page.live = new SessionUpdates(session, {
    onMessage: onLiveMessage,
    poll: catchUp,
    onState: liveBadge($("live")),
  }).start();
  refreshGallery().then(openFromHash);
}

// ---- search: GET /search, within this session unless "every session" is ticked

function resultCell(result) {
  const cell = newCell(result.imageId);
  cell.dataset.status = "completed";
  cell.querySelector(".name").textContent = result.filename;
  cell.querySelector(".open").setAttribute("aria-label", `${result.filename}: score ${result.score}`);
  const score = cell.querySelector(".status");
  score.className = "score";
  score.textContent = `score ${result.score.toFixed(2)}${result.tags.length ? " · " + result.tags.slice(0, 4).join(", ") : ""}`;
  const img = cell.querySelector("img");
  const thumb = thumbSrc(result);
  if (thumb) img.src = thumb;
  img.alt = result.filename;
  return cell;
}

async function search(query) {
  const params = new URLSearchParams({ q: query, limit: "48" });
  if (!$("everywhere").checked) params.set("sessionId", page.session);
  try {
    const data = await request("GET", `/search?${params}`);
    const results = data.results || [];
    $("result-grid").replaceChildren(...results.map(resultCell));
    $("results-count").textContent = `(${results.length}${data.nextToken ? "+" : ""} for “${query}”)`;
    $("no-results").hidden = results.length > 0;
    $("found").hidden = false;
  } catch (error) {
    toast(`search: ${error.message}`);
  }
}

function clearSearch() {
  $("q").value = "";
  $("found").hidden = true;
  $("result-grid").replaceChildren();
}

function wireControls() {
  $("search").onsubmit = (e) => {
    e.preventDefault();
    const query = $("q").value.trim();
    if (query) search(query); else clearSearch();
  };
  $("clear-search").onclick = clearSearch;
  $("new-session").onclick = () => {
    $("uploads").replaceChildren();
    $("queue").hidden = true;
    followSession(newSessionId());
  };
  const hooks = { session: () => page.session, remember, refreshImage, refreshGallery };
  const pick = (files) => handleFiles(files, hooks).catch((error) => console.error("upload:", error));
  const input = $("files");
  input.onchange = () => { pick(input.files); };
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); pick(e.dataTransfer.files); };
  $("more").onclick = () => loadMore();
  scroller.observe($("more-zone"));
  // A delete still waiting for its undo is sent when the page goes away.
  window.addEventListener("pagehide", () => {
    for (const imageId of [...page.pendingDeletes.keys()]) sendDelete(imageId, true);
  });
}

wireControls();
wireDetail();
followSession(localStorage.getItem(SESSION_KEY) || newSessionId());
