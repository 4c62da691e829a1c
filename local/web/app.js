// The imagepipe demo page: plain browser APIs only (fetch, XHR for upload progress, WebCrypto,
// WebSocket). Status changes arrive live (live.js); the cards are the page's only state: each
// one carries its image's id and status in data-image-id and data-status.
import { SessionUpdates, liveBadge, oneAtATime } from "./live.js";

const SESSION_KEY = "imagepipe.session";
// Nothing more will happen to these on their own: "rejected" is refused by the API or by S3.
const SETTLED = new Set(["completed", "failed", "rejected"]);
const LABELS = {
  uploading: "uploading",
  uploaded: "uploaded, waiting for processing",
  pending_upload: "waiting for the upload",
  processing: "processing",
  completed: "completed",
  failed: "failed",
  rejected: "rejected",
};

const page = { session: null, live: null };

function newSessionId() { return "s-" + crypto.randomUUID(); }

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function request(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || { code: String(response.status), message: text };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return data;
}

function uploadToS3(target, file, onProgress) {
  // The presigned POST: every field, then the file last.
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, target.url);
    for (const [name, value] of Object.entries(target.headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress((100 * e.loaded) / e.total);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(`S3 answered ${xhr.status}`)));
    xhr.onerror = () => reject(new Error("upload failed"));
    xhr.send(form);
  });
}

// ---- cards

function newCard(name) {
  const node = document.getElementById("card").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = name;
  return node;
}

function cardsOf(imageId, scope = document) {
  return scope.querySelectorAll(`.card[data-image-id="${CSS.escape(imageId)}"]`);
}

function showStatus(node, status, error) {
  node.dataset.status = status;
  const line = node.querySelector(".status");
  line.textContent = (LABELS[status] || status) + (error ? ` — ${error.code}: ${error.message}` : "");
  line.className = "status " + status;
}

function show(node, image) {
  node.dataset.imageId = image.imageId;
  showStatus(node, image.status, image.error);
  const frame = node.querySelector(".frame");
  if (image.thumbnail) frame.style.backgroundImage = `url("${image.thumbnail.dataUri || image.thumbnail.url}")`;
  if (image.status === "completed" && image.variants && image.variants.length) renderPicture(node, image);
  if (image.metadata && Object.keys(image.metadata).length) {
    node.querySelector(".meta pre").textContent = JSON.stringify(image.metadata, null, 2);
  }
  if ("similar" in image) renderSimilar(node, image.similar);  // listings leave it out
}

function renderSimilar(node, similar) {
  const box = node.querySelector(".similar");
  box.replaceChildren();
  for (const other of similar) {
    const img = document.createElement("img");
    img.src = (other.thumbnail && (other.thumbnail.dataUri || other.thumbnail.url)) || "";
    img.alt = img.title = `${other.filename} (distance ${other.distance})`;
    box.append(img);
  }
  if (similar.length) box.prepend("similar: ");
}

function renderPicture(node, image) {
  const picture = node.querySelector("picture");
  if (picture.dataset.done) return;
  picture.dataset.done = "1";
  for (const format of ["avif", "webp"]) {
    const variants = image.variants.filter((v) => v.format === format).sort((a, b) => a.width - b.width);
    const source = document.createElement("source");
    source.type = `image/${format}`;
    source.srcset = variants.map((v) => `${v.url} ${v.width}w`).join(", ");
    source.sizes = "(max-width: 600px) 100vw, 300px";
    picture.append(source);
  }
  const img = document.createElement("img");
  const fallback = image.variants.find((v) => v.name === "small" && v.format === "webp");
  img.src = fallback ? fallback.url : image.original.url;
  img.alt = image.filename;
  img.loading = "lazy";
  img.width = image.width;
  img.height = image.height;
  picture.append(img);
}

function wire(node, imageId) {
  node.querySelector(".delete").onclick = () => act(`/images/${imageId}`, imageId);
  node.querySelector(".unlink").onclick = () =>
    act(`/sessions/${encodeURIComponent(page.session)}/images/${imageId}`, imageId);
}

async function act(path, imageId) {
  try {
    await request("DELETE", path);
  } catch (error) {
    alert(`${error.code}: ${error.message}`);
    return;
  }
  cardsOf(imageId).forEach((node) => node.remove());
  refreshGallery();
}

// ---- what the API says

const refreshImage = oneAtATime(async (imageId) => {
  let image;
  try {
    image = await request("GET", `/images/${imageId}`);
  } catch (error) {
    if (error.status !== 404) throw error;
    cardsOf(imageId).forEach((node) => node.remove());  // deleted meanwhile
    return;
  }
  cardsOf(imageId).forEach((node) => show(node, image));
});

const loadGallery = oneAtATime(async (session) => {
  const listing = await request("GET", `/sessions/${encodeURIComponent(session)}/images?limit=50`);
  if (session !== page.session) return;  // a new session was started meanwhile
  const gallery = document.getElementById("gallery");
  // Cards are kept from one listing to the next (an open metadata panel stays open), and a
  // summary knows less than a card already showing its status.
  gallery.replaceChildren(...listing.images.map((summary) => {
    const known = cardsOf(summary.imageId, gallery)[0];
    if (known && known.dataset.status === summary.status) return known;
    const node = known || galleryCard(summary);
    show(node, summary);
    if (summary.status === "failed") refreshImage(summary.imageId).catch(() => {});  // the reason
    return node;
  }));
});

function galleryCard(summary) {
  const node = newCard(summary.filename);
  node.querySelector("progress").remove();
  wire(node, summary.imageId);
  return node;
}

function refreshGallery() {
  return loadGallery(page.session).catch((error) => console.warn("gallery:", error.message));
}

// ---- live updates

function onLiveMessage(message) {
  if (message.type === "image.deleted") {
    cardsOf(message.imageId).forEach((node) => node.remove());
    return;
  }
  // The message names the change; the image (thumbnail, variants, error) is one GET away.
  refreshImage(message.imageId).catch(() => {
    cardsOf(message.imageId).forEach((node) => showStatus(node, message.status, message.error));
  });
  // An image of this session not in the gallery yet: new here, or sent from elsewhere.
  if (!cardsOf(message.imageId, document.getElementById("gallery")).length) refreshGallery();
}

// While there is no socket: every image still on its way, and the gallery.
async function catchUp() {
  const unsettled = [...document.querySelectorAll("#uploads .card[data-image-id]")]
    .filter((node) => !SETTLED.has(node.dataset.status))
    .map((node) => node.dataset.imageId);
  await Promise.all([...new Set(unsettled)].map(refreshImage));
  await refreshGallery();
}

function followSession(session) {
  if (page.live) page.live.stop();
  page.session = session;
  localStorage.setItem(SESSION_KEY, session);
  document.getElementById("session").textContent = session;
  page.live = new SessionUpdates(session, {
    onMessage: onLiveMessage,
    poll: catchUp,
    onState: liveBadge(document.getElementById("live")),
  }).start();
  refreshGallery();
}

// ---- uploads

async function handleFiles(files) {
  files = Array.from(files).slice(0, 10);
  if (!files.length) return;
  const container = document.getElementById("uploads");
  const nodes = files.map((file) => {
    const node = newCard(file.name);
    container.prepend(node);
    return node;
  });
  const specs = await Promise.all(files.map(async (file) => ({
    filename: file.name,
    contentType: file.type || "image/jpeg",
    size: file.size,
    sha256: await sha256Hex(file),
  })));
  let response;
  try {
    response = await request("POST", "/uploads", { sessionId: page.session, files: specs });
  } catch (error) {
    nodes.forEach((node) => showStatus(node, "rejected", error));
    return;
  }
  await Promise.all(response.uploads.map((entry, i) => send(nodes[i], entry, files[i])));
}

async function send(node, entry, file) {
  const badge = node.querySelector(".badge");
  badge.textContent = entry.upload ? (entry.isNew ? "new" : "re-upload") : "duplicate";
  badge.className = "badge " + (entry.upload ? "new" : "duplicate");
  // From here on, messages about this image reach this card.
  node.dataset.imageId = entry.imageId;
  wire(node, entry.imageId);
  const bar = node.querySelector("progress");
  if (!entry.upload) {
    // Already stored: whatever state it is in, no message announces it again.
    bar.value = 100;
    await Promise.all([refreshImage(entry.imageId), refreshGallery()]);
    return;
  }
  showStatus(node, "uploading");
  try {
    await uploadToS3(entry.upload, file, (p) => { bar.value = p; });
  } catch (error) {
    showStatus(node, "rejected", { code: "upload_failed", message: error.message });
    return;
  }
  bar.value = 100;
  // Unless a message or a poll got here first.
  if (["uploading", "pending_upload"].includes(node.dataset.status)) showStatus(node, "uploaded");
}

function wireControls() {
  document.getElementById("new-session").onclick = () => {
    document.getElementById("uploads").replaceChildren();
    followSession(newSessionId());
  };
  const pick = (files) => handleFiles(files).catch((error) => console.error("upload:", error));
  const input = document.getElementById("files");
  input.onchange = () => pick(input.files);
  const drop = document.getElementById("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); pick(e.dataTransfer.files); };
}

wireControls();
followSession(localStorage.getItem(SESSION_KEY) || newSessionId());
