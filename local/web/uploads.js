// The demo page's uploads: any number of files, hashed one after another, presigned 10 at a
// time (POST /uploads takes 1 to 10), each sent to S3 as soon as it is presigned, with a card per
// file showing where it is.
import { LABELS, SETTLED, request } from "./api.js";
import { renderPicture, thumbSrc } from "./detail.js";

const BATCH = 10;
const $ = (id) => document.getElementById(id);

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
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

// ---- upload cards (one per picked file)

function newCard(name) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = name;
  return node;
}

export function cardsOf(imageId) {
  return document.querySelectorAll(`#uploads .card[data-image-id="${CSS.escape(imageId)}"]`);
}

export function showStatus(node, status, error, detail) {
  node.dataset.status = status;
  const line = node.querySelector(".status");
  line.textContent = (detail || LABELS[status] || status) + (error ? ` — ${error.code}: ${error.message}` : "");
  line.className = "status " + status;
  if (SETTLED.has(status)) node.querySelector("progress").value = 100;
  summarizeQueue();
}

export function showCard(node, image) {
  showStatus(node, image.status, image.error);
  const picture = node.querySelector("picture");
  if (image.status === "completed" && image.variants && image.variants.length) {
    if (!picture.dataset.done) {
      picture.dataset.done = "1";
      picture.replaceChildren();  // the thumbnail shown meanwhile
      renderPicture(picture, image, "64px");
    }
  } else if (image.thumbnail && !picture.childElementCount) {
    const img = document.createElement("img");
    img.src = thumbSrc(image);
    img.alt = "";
    picture.append(img);
  }
}

function summarizeQueue() {
  const cards = [...document.querySelectorAll("#uploads .card")];
  if (!cards.length) return;
  const counts = {};
  for (const node of cards) counts[node.dataset.status] = (counts[node.dataset.status] || 0) + 1;
  $("queue-summary").textContent = `${cards.length} file${cards.length > 1 ? "s" : ""}: ` +
    Object.entries(counts).map(([status, n]) => `${n} ${LABELS[status] || status}`).join(", ");
}

// ---- uploads: hashed one after another, presigned 10 at a time, sent as soon as presigned

// hooks: session() gives the session the files go to; remember(image, detailed), refreshImage(id)
// and refreshGallery() are the page's (what it knows of an image, and asking the API again).
export async function handleFiles(files, hooks) {
  files = Array.from(files);
  if (!files.length) return;
  $("queue").hidden = false;
  const container = $("uploads");
  const items = files.map((file) => {
    const node = newCard(file.name);
    container.prepend(node);
    showStatus(node, "queued");
    return { file, node };
  });
  const sending = [];
  for (let start = 0; start < items.length; start += BATCH) {
    const batch = items.slice(start, start + BATCH);
    for (const item of batch) {
      showStatus(item.node, "hashing");
      item.node.querySelector("progress").removeAttribute("value");  // indeterminate
      item.spec = {
        filename: item.file.name,
        contentType: item.file.type || "image/jpeg",
        size: item.file.size,
        sha256: await sha256Hex(item.file),
      };
      item.node.querySelector("progress").value = 0;
      showStatus(item.node, "queued", null, "hashed, waiting for its batch");
    }
    const entries = await presign(batch, hooks.session());
    entries.forEach(([item, entry]) => sending.push(send(item.node, entry, item.file, hooks)));
  }
  await Promise.all(sending);
}

// POST /uploads for a batch. A file the API refuses (its `field` names it) is marked with the
// reason and the rest of the batch is asked again: one bad file does not sink nine good ones.
async function presign(batch, session) {
  let left = batch;
  while (left.length) {
    try {
      const response = await request("POST", "/uploads", {
        sessionId: session, files: left.map((item) => item.spec),
      });
      return left.map((item, i) => [item, response.uploads[i]]);
    } catch (error) {
      const culprit = /^files\[(\d+)\]/.exec(error.field || "");
      if (!culprit || error.status >= 500) {
        left.forEach((item) => showStatus(item.node, "rejected", error));
        return [];
      }
      const bad = left[Number(culprit[1])];
      showStatus(bad.node, "rejected", error);
      left = left.filter((item) => item !== bad);
    }
  }
  return [];
}

async function send(node, entry, file, { remember, refreshImage, refreshGallery }) {
  const badge = node.querySelector(".badge");
  badge.textContent = entry.upload ? (entry.isNew ? "new" : "re-upload") : "duplicate";
  badge.className = "badge " + (entry.upload ? "new" : "duplicate");
  // From here on, messages about this image reach this card.
  node.dataset.imageId = entry.imageId;
  remember({ imageId: entry.imageId, status: entry.status, filename: file.name }, false);
  const bar = node.querySelector("progress");
  if (!entry.upload) {
    // Already stored: whatever state it is in, no message announces it again.
    showStatus(node, entry.status);
    await Promise.all([refreshImage(entry.imageId), refreshGallery()]);
    return;
  }
  if (entry.upload.method !== "POST") {
    // A file over MultipartThresholdBytes gets a multipart upload, which this page does not do.
    const message = "a file this large needs a multipart upload, which this page does not do yet";
    showStatus(node, "rejected", { code: "not_supported_here", message });
    return;
  }
  showStatus(node, "uploading", null, "uploading 0 %");
  try {
    await uploadToS3(entry.upload, file, (p) => {
      bar.value = p;
      if (node.dataset.status === "uploading") showStatus(node, "uploading", null, `uploading ${Math.round(p)} %`);
    });
  } catch (error) {
    showStatus(node, "rejected", { code: "upload_failed", message: error.message });
    return;
  }
  bar.value = 100;
  // Unless a message or a poll got here first.
  if (["uploading", "pending_upload"].includes(node.dataset.status)) showStatus(node, "uploaded");
}
