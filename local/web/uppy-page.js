// The integration example for Uppy users: everything imagepipe needs is getUploadParameters.
// Below the dashboard, each file's image is followed live (live.js): thumbnail, then variants,
// or the reason it failed.
import { SessionUpdates, liveBadge, oneAtATime } from "./live.js";

const { Uppy, Dashboard, AwsS3 } = window.Uppy;
// Nothing more will happen to these on their own ("error": Uppy could not send the file).
const SETTLED = new Set(["completed", "failed", "error", "rejected"]);
const session = "uppy-" + crypto.randomUUID();

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- the results: one item per file; data-image-id once the API has named its image

function itemOf(file) {
  let item = document.querySelector(`#results li[data-file="${CSS.escape(file.id)}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.file = file.id;
    const thumb = Object.assign(document.createElement("img"), { className: "thumb", alt: "" });
    const name = Object.assign(document.createElement("strong"), { className: "name", textContent: file.name });
    const state = Object.assign(document.createElement("span"), { className: "state" });
    const variants = Object.assign(document.createElement("span"), { className: "variants" });
    item.append(thumb, name, state, variants);
    document.getElementById("results").append(item);
  }
  return item;
}

function itemsOf(imageId) {
  return document.querySelectorAll(`#results li[data-image-id="${CSS.escape(imageId)}"]`);
}

function report(item, status, text) {
  item.dataset.status = status;
  const state = item.querySelector(".state");
  state.textContent = text;
  state.className = "state " + status;
}

function show(item, image) {
  const stored = item.dataset.stored ? "already stored · " : "";
  const error = image.error ? ` — ${image.error.code}: ${image.error.message}` : "";
  report(item, image.status, stored + image.status + error);
  if (image.thumbnail) item.querySelector(".thumb").src = image.thumbnail.dataUri || image.thumbnail.url;
  const variants = item.querySelector(".variants");
  if (image.status !== "completed" || variants.childElementCount) return;
  for (const variant of [...(image.variants || [])].sort((a, b) => a.width - b.width)) {
    const link = Object.assign(document.createElement("a"), { href: variant.url, target: "_blank" });
    link.textContent = `${variant.name} ${variant.format}`;
    link.title = `${variant.width}×${variant.height}, ${variant.size} bytes`;
    variants.append(link);
  }
}

const refresh = oneAtATime(async (imageId) => {
  const response = await fetch(`/images/${imageId}`);
  if (response.status === 404) {
    itemsOf(imageId).forEach((item) => item.remove());  // deleted meanwhile
    return;
  }
  if (!response.ok) throw new Error(`GET /images/${imageId} answered ${response.status}`);
  const image = await response.json();
  itemsOf(imageId).forEach((item) => show(item, image));
});

// ---- live updates, or polling while there is no socket

function onLiveMessage(message) {
  if (message.type === "image.deleted") {
    itemsOf(message.imageId).forEach((item) => item.remove());
    return;
  }
  // The message names the change; the image (thumbnail, variants, error) is one GET away.
  refresh(message.imageId).catch(() => {
    const error = message.error ? ` — ${message.error.code}: ${message.error.message}` : "";
    itemsOf(message.imageId).forEach((item) => report(item, message.status, message.status + error));
  });
}

async function catchUp() {
  const unsettled = [...document.querySelectorAll("#results li[data-image-id]")]
    .filter((item) => !SETTLED.has(item.dataset.status))
    .map((item) => item.dataset.imageId);
  await Promise.all([...new Set(unsettled)].map(refresh));
}

// ---- Uppy

async function presign(file) {
  const response = await fetch("/uploads", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      sessionId: session,
      files: [{ filename: file.name, contentType: file.type, size: file.size, sha256: await sha256Hex(file.data) }],
    }),
  });
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error ? body.error.message : `POST /uploads answered ${response.status}`);
    error.code = body.error && body.error.code;
    throw error;
  }
  return body.uploads[0];
}

// What the API accepts (types, size, files per request), as the local stack reads it from the
// template: Uppy refuses anything else before a byte is hashed.
const limits = await (await fetch("/static/limits.json")).json();
const uppy = new Uppy({
  restrictions: {
    allowedFileTypes: limits.allowedContentTypes,
    maxFileSize: limits.maxFileBytes,
    maxNumberOfFiles: limits.maxFilesPerRequest,
  },
})
  .use(Dashboard, { inline: true, target: "#dashboard", height: 360 })
  .use(AwsS3, {
    shouldUseMultipart: false,
    // The presigned POST of each file, asked for before the upload (see the pre-processor).
    async getUploadParameters(file) {
      const entry = targets.get(file.id) || (await presign(file));
      report(itemOf(file), "uploading", "uploading");
      return entry.upload;  // {method, url, fields, headers}: exactly what Uppy expects
    },
  });

// Each file is presigned before Uppy uploads anything, so that a file the API already holds is
// marked done ("already stored", nothing sent) and one it refuses shows the API's own message;
// Uppy then uploads only the rest.
const targets = new Map();
uppy.addPreProcessor(async (fileIDs) => {
  await Promise.all(fileIDs.map(async (id) => {
    const file = uppy.getFile(id);
    if (!file || targets.has(id)) return;
    const item = itemOf(file);
    let entry;
    try {
      entry = await presign(file);
    } catch (error) {
      report(item, "rejected", `rejected — ${error.code || "error"}: ${error.message}`);
      uppy.emit("upload-error", file, error);
      return;
    }
    uppy.setFileMeta(id, { imageId: entry.imageId });
    // From here on, messages about this image reach this item.
    item.dataset.imageId = entry.imageId;
    if (entry.upload) {
      targets.set(id, entry);
      return;
    }
    // Already stored: done, nothing to send, and no message announces it again: ask once.
    item.dataset.stored = "true";
    report(item, "duplicate", "already stored");
    const link = Object.assign(document.createElement("a"), { href: `/images/${entry.imageId}`, target: "_blank" });
    link.className = "stored";
    link.textContent = entry.imageId;
    item.querySelector(".name").after(link);
    uppy.emit("upload-success", uppy.getFile(id), {
      status: 200,
      body: { imageId: entry.imageId, alreadyStored: true },
      uploadURL: `/images/${entry.imageId}`,
    });
    refresh(entry.imageId).catch((error) => console.warn(error.message));
  }));
});

uppy.on("upload-success", (file) => {
  const item = itemOf(file);
  // Unless a message or a poll got here first.
  if (["uploading", "pending_upload"].includes(item.dataset.status)) {
    report(item, "uploaded", "uploaded, waiting for processing");
  }
});
uppy.on("upload-error", (file, error) => {
  const item = itemOf(file);
  if (item.dataset.status !== "rejected") report(item, "error", "error: " + error.message);
});

document.getElementById("session").textContent = session;
new SessionUpdates(session, {
  onMessage: onLiveMessage,
  poll: catchUp,
  onState: liveBadge(document.getElementById("live")),
}).start();
window.imagepipeUppy = uppy;
