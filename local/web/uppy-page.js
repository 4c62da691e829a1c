// The integration example for Uppy users: everything imagepipe needs is getUploadParameters.
// Below the dashboard, each file's image is followed live (live.js): thumbnail, then variants,
// or the reason it failed.
import { SessionUpdates, liveBadge, oneAtATime } from "./live.js";

const { Uppy, Dashboard, AwsS3 } = window.Uppy;
// Nothing more will happen to these on their own ("error": Uppy could not send the file).
const SETTLED = new Set(["completed", "failed", "error"]);
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
  report(item, image.status, image.status + (image.error ? ` — ${image.error.code}: ${image.error.message}` : ""));
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
  if (!response.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
  return body.uploads[0];
}

const uppy = new Uppy({ restrictions: { allowedFileTypes: ["image/*"], maxNumberOfFiles: 10 } })
  .use(Dashboard, { inline: true, target: "#dashboard", height: 360 })
  .use(AwsS3, {
    shouldUseMultipart: false,
    async getUploadParameters(file) {
      const entry = await presign(file);
      uppy.setFileMeta(file.id, { imageId: entry.imageId });
      // From here on, messages about this image reach this item.
      const item = itemOf(file);
      item.dataset.imageId = entry.imageId;
      if (!entry.upload) {
        // Already stored, and no message announces it again: ask once. Uppy has no way to
        // skip a file, so its upload ends in an error that the page recognises.
        report(item, "duplicate", "duplicate");
        refresh(entry.imageId).catch((error) => console.warn(error.message));
        throw new Error("duplicate: already stored as " + entry.imageId);
      }
      report(item, "uploading", "uploading");
      return entry.upload;  // {method, url, fields, headers}: exactly what Uppy expects
    },
  });

uppy.on("upload-success", (file) => {
  const item = itemOf(file);
  // Unless a message or a poll got here first.
  if (["uploading", "pending_upload"].includes(item.dataset.status)) {
    report(item, "uploaded", "uploaded, waiting for processing");
  }
});
uppy.on("upload-error", (file, error) => {
  if (!String(error.message).startsWith("duplicate")) report(itemOf(file), "error", "error: " + error.message);
});

document.getElementById("session").textContent = session;
new SessionUpdates(session, {
  onMessage: onLiveMessage,
  poll: catchUp,
  onState: liveBadge(document.getElementById("live")),
}).start();
window.imagepipeUppy = uppy;
