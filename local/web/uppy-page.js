// The integration example for Uppy users: a small file goes with getUploadParameters (the
// presigned POST); a large one, which the API answers with a multipart upload, goes in parts
// through @uppy/aws-s3's multipart callbacks, each mapped on one route of the API, and resumes
// after a reload. Below the dashboard, each file's image is followed live (live.js): thumbnail,
// then variants, or the reason it failed.
import { SessionUpdates, liveBadge, oneAtATime } from "./live.js";

const { Uppy, Dashboard, AwsS3 } = window.Uppy;
// Nothing more will happen to these on their own ("error": Uppy could not send the file).
const SETTLED = new Set(["completed", "failed", "error", "rejected"]);
const session = "uppy-" + crypto.randomUUID();

async function sha256(blob) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
}

async function sha256Hex(blob) {
  return Array.from(await sha256(blob), (b) => b.toString(16).padStart(2, "0")).join("");
}

// What POST /uploads/{imageId}/parts wants: standard (padded) base64 of the 32-byte digest.
async function sha256Base64(blob) {
  return btoa(String.fromCharCode(...(await sha256(blob))));
}

// One call of the API. A refusal ({"error": {code, message}}) becomes an Error with the API's
// message and code, which Uppy shows on the file as it is.
async function api(method, path, body, signal) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer.error ? answer.error.message : `${method} ${path} answered ${response.status}`);
    error.code = answer.error && answer.error.code;
    error.status = response.status;
    throw error;
  }
  return answer;
}

// A part (or a POST) that S3 refused: its XML error says why. Uppy retries what has a `source`
// with a status it deems transient, 400 included; a refusal (4xx) is final, so it has none.
function s3Refusal(error) {
  const xhr = error && error.source;
  if (!xhr || typeof xhr.status !== "number" || error.message === "Request has expired") return error;
  if (xhr.status === 0) return Object.assign(new Error("the storage could not be reached"), { source: xhr });
  let code = "";
  let message = "";
  try {
    const xml = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    code = xml.querySelector("Error > Code")?.textContent || "";
    message = xml.querySelector("Error > Message")?.textContent || "";
  } catch {
    // not XML: the status alone says it
  }
  const refused = new Error(`storage refused the upload (${xhr.status}${code ? " " + code : ""})${message ? ": " + message : ""}`);
  if (xhr.status >= 500 || xhr.status === 429) refused.source = xhr;  // worth another try
  return refused;
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

// The image is gone (deleted, or its upload aborted): its items go, except one whose upload
// failed, which keeps saying why (a retry names the image again).
function forget(imageId) {
  itemsOf(imageId).forEach((item) => {
    if (item.dataset.status === "error") delete item.dataset.imageId;
    else item.remove();
  });
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
    forget(imageId);  // deleted meanwhile
    return;
  }
  if (!response.ok) throw new Error(`GET /images/${imageId} answered ${response.status}`);
  const image = await response.json();
  itemsOf(imageId).forEach((item) => show(item, image));
});

// ---- live updates, or polling while there is no socket

function onLiveMessage(message) {
  if (message.type === "image.deleted") {
    forget(message.imageId);
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
  const body = await api("POST", "/uploads", {
    sessionId: session,
    files: [{ filename: file.name, contentType: file.type, size: file.size, sha256: await sha256Hex(file.data) }],
  });
  return body.uploads[0];
}

const isMultipart = (entry) => Boolean(entry && entry.upload && entry.upload.method === "MULTIPART");
// Every multipart route is under the image: the key and uploadId Uppy passes are the API's own.
const partsPath = (file) => `/uploads/${encodeURIComponent(file.meta.imageId)}`;

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
    // The API decides: a file it answered with a multipart upload goes in parts.
    shouldUseMultipart: (file) => isMultipart(targets.get(file.id)),
    // The presigned POST of each file, asked for before the upload (see the pre-processor).
    async getUploadParameters(file) {
      const entry = targets.get(file.id) || (await presign(file));
      report(itemOf(file), "uploading", "uploading");
      return entry.upload;  // {method, url, fields, headers}: exactly what Uppy expects
    },
    // A refused PUT or POST says what S3 said, not "Non 2xx".
    async uploadPartBytes(options) {
      try {
        return await AwsS3.uploadPartBytes(options);
      } catch (error) {
        throw s3Refusal(error);
      }
    },
    // ---- multipart: one callback, one route (the pre-processor already has the upload)
    async createMultipartUpload(file) {
      let entry = targets.get(file.id);
      if (!isMultipart(entry)) {  // aborted meanwhile: the API starts a new one
        entry = await presign(file);
        targets.set(file.id, entry);
      }
      report(itemOf(file), "uploading", `uploading in ${entry.upload.partCount} parts`);
      return { uploadId: entry.upload.uploadId, key: entry.upload.key };
    },
    // Uppy splits the file with this size; the API's parts are the same: every part but the
    // last exactly partSize bytes.
    getChunkSize(data) {
      const file = uppy.getFiles().find((f) => f.data === data);
      const entry = file && targets.get(file.id);
      return isMultipart(entry) ? entry.upload.partSize : 8 * 1024 * 1024;
    },
    async signPart(file, { partNumber, body, signal }) {
      const answer = await api("POST", `${partsPath(file)}/parts`, {
        parts: [{ partNumber, size: body.size, sha256: await sha256Base64(body) }],
      }, signal);
      const [part] = answer.parts;
      // The checksum header is signed into the URL: Uppy's PUT sends it verbatim.
      return { method: part.method, url: part.url, headers: part.headers };
    },
    async listParts(file, { signal }) {
      const answer = await api("GET", `${partsPath(file)}/parts`, undefined, signal);
      storedParts.set(file.id, new Set(answer.parts.map((part) => part.partNumber)));
      report(itemOf(file), "uploading",
        `resuming: ${answer.parts.length} of ${answer.partCount} parts already stored`);
      return answer.parts.map((part) => ({ PartNumber: part.partNumber, Size: part.size, ETag: part.etag }));
    },
    async completeMultipartUpload(file, { parts, signal }) {
      const answer = await api("POST", `${partsPath(file)}/complete`, {
        parts: parts.map((part) => ({ partNumber: part.PartNumber, etag: part.ETag })),
      }, signal);
      return { location: `/images/${answer.imageId}`, imageId: answer.imageId, status: answer.status };
    },
    async abortMultipartUpload(file, { signal }) {
      targets.delete(file.id);  // gone: a retry asks POST /uploads again
      storedParts.delete(file.id);
      await api("DELETE", partsPath(file), undefined, signal);
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
      // The same file again while its multipart upload is open (a reload, another tab): the API
      // answers the same uploadId. With it in the file's state, @uppy/aws-s3 restores the upload
      // instead of creating one: it lists the parts S3 holds and sends only the others.
      if (isMultipart(entry) && !entry.isNew) {
        uppy.setFileState(id, { s3Multipart: { key: entry.upload.key, uploadId: entry.upload.uploadId } });
      }
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
// Which parts S3 holds, per file: listed on a resume, then one more with each part sent.
const storedParts = new Map();
uppy.on("s3-multipart:part-uploaded", (file, part) => {
  const entry = targets.get(file.id);
  const stored = storedParts.get(file.id) || new Set();
  storedParts.set(file.id, stored.add(part.PartNumber));
  const item = itemOf(file);
  if (item.dataset.status === "uploading" && entry) {
    report(item, "uploading", `uploading: ${stored.size} of ${entry.upload.partCount} parts stored`);
  }
});
uppy.on("upload-error", (file, error) => {
  const item = itemOf(file);
  const code = error.code ? `${error.code}: ` : "";
  if (item.dataset.status !== "rejected") report(item, "error", `error — ${code}${error.message}`);
});

document.getElementById("session").textContent = session;
if (limits.multipartThresholdBytes) {
  document.getElementById("threshold").textContent = `${limits.multipartThresholdBytes / (1024 * 1024)} MiB`;
}
new SessionUpdates(session, {
  onMessage: onLiveMessage,
  poll: catchUp,
  onState: liveBadge(document.getElementById("live")),
}).start();
window.imagepipeUppy = uppy;
