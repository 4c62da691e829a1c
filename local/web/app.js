// The imagepipe demo page: plain browser APIs only (fetch, XHR for upload progress, WebCrypto).
"use strict";

const api = "";  // same origin as the local HTTP API
const sessionKey = "imagepipe.session";
let session = localStorage.getItem(sessionKey) || newSessionId();
localStorage.setItem(sessionKey, session);

function newSessionId() { return "s-" + crypto.randomUUID(); }

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function request(method, path, body) {
  const response = await fetch(api + path, {
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

function card(container, name) {
  const node = document.getElementById("card").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = name;
  container.prepend(node);
  return node;
}

function show(node, image) {
  node.dataset.imageId = image.imageId;
  const status = node.querySelector(".status");
  status.textContent = image.status + (image.error ? ` — ${image.error.code}: ${image.error.message}` : "");
  status.className = "status " + image.status;
  const frame = node.querySelector(".frame");
  if (image.thumbnail) frame.style.backgroundImage = `url("${image.thumbnail.dataUri || image.thumbnail.url}")`;
  if (image.status === "completed" && image.variants && image.variants.length) renderPicture(node, image);
  if (image.metadata && Object.keys(image.metadata).length) {
    node.querySelector(".meta pre").textContent = JSON.stringify(image.metadata, null, 2);
  }
  const similar = node.querySelector(".similar");
  similar.replaceChildren();
  for (const other of image.similar || []) {
    const img = document.createElement("img");
    img.src = (other.thumbnail && (other.thumbnail.dataUri || other.thumbnail.url)) || "";
    img.alt = img.title = `${other.filename} (distance ${other.distance})`;
    similar.append(img);
  }
  if ((image.similar || []).length) similar.prepend("similar: ");
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

async function follow(node, imageId) {
  for (;;) {
    const image = await request("GET", `/images/${imageId}`);
    show(node, image);
    if (image.status === "completed" || image.status === "failed") return image;
    await new Promise((r) => setTimeout(r, 800));
  }
}

function wire(node, imageId) {
  node.querySelector(".delete").onclick = async () => {
    await request("DELETE", `/images/${imageId}`);
    node.remove();
    refreshGallery();
  };
  node.querySelector(".unlink").onclick = async () => {
    await request("DELETE", `/sessions/${encodeURIComponent(session)}/images/${imageId}`);
    node.remove();
    refreshGallery();
  };
}

async function handleFiles(files) {
  files = Array.from(files).slice(0, 10);
  if (!files.length) return;
  const container = document.getElementById("uploads");
  const nodes = files.map((f) => card(container, f.name));
  const specs = await Promise.all(
    files.map(async (f) => ({ filename: f.name, contentType: f.type || "image/jpeg", size: f.size, sha256: await sha256Hex(f) })),
  );
  let response;
  try {
    response = await request("POST", "/uploads", { sessionId: session, files: specs });
  } catch (error) {
    nodes.forEach((n) => { n.querySelector(".status").textContent = `rejected — ${error.code}: ${error.message}`; n.querySelector(".status").className = "status failed"; });
    return;
  }
  await Promise.all(response.uploads.map(async (entry, i) => {
    const node = nodes[i];
    const badge = node.querySelector(".badge");
    badge.textContent = entry.upload ? (entry.isNew ? "new" : "re-upload") : "duplicate";
    badge.className = "badge " + (entry.upload ? "new" : "duplicate");
    node.dataset.imageId = entry.imageId;
    wire(node, entry.imageId);
    const bar = node.querySelector("progress");
    if (entry.upload) {
      await uploadToS3(entry.upload, files[i], (p) => { bar.value = p; });
    }
    bar.value = 100;
    await follow(node, entry.imageId);
  }));
  refreshGallery();
}

async function refreshGallery() {
  const gallery = document.getElementById("gallery");
  const page = await request("GET", `/sessions/${encodeURIComponent(session)}/images?limit=50`);
  gallery.replaceChildren();
  for (const image of page.images.reverse()) {
    const node = card(gallery, image.filename);
    node.querySelector("progress").remove();
    show(node, image);
    wire(node, image.imageId);
  }
}

document.getElementById("session").textContent = session;
document.getElementById("new-session").onclick = () => {
  session = newSessionId();
  localStorage.setItem(sessionKey, session);
  document.getElementById("session").textContent = session;
  document.getElementById("uploads").replaceChildren();
  refreshGallery();
};
const input = document.getElementById("files");
input.onchange = () => handleFiles(input.files);
const drop = document.getElementById("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); handleFiles(e.dataTransfer.files); };
refreshGallery();
