// The integration example for Uppy users: everything imagepipe needs is getUploadParameters.
"use strict";

const { Uppy, Dashboard, AwsS3 } = window.Uppy;
const session = "uppy-" + crypto.randomUUID();
document.getElementById("session").textContent = session;

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function report(file, text, status) {
  let item = document.querySelector(`[data-file="${file.id}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.file = file.id;
    document.getElementById("results").append(item);
  }
  item.dataset.status = status;
  item.textContent = `${file.name}: ${text}`;
}

async function follow(file, imageId) {
  for (;;) {
    const image = await (await fetch(`/images/${imageId}`)).json();
    report(file, image.status + (image.error ? ` (${image.error.code})` : ""), image.status);
    if (image.status === "completed" || image.status === "failed") return;
    await new Promise((r) => setTimeout(r, 800));
  }
}

const uppy = new Uppy({ restrictions: { allowedFileTypes: ["image/*"], maxNumberOfFiles: 10 } })
  .use(Dashboard, { inline: true, target: "#dashboard", height: 360 })
  .use(AwsS3, {
    shouldUseMultipart: false,
    async getUploadParameters(file) {
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
      const entry = body.uploads[0];
      uppy.setFileMeta(file.id, { imageId: entry.imageId });
      if (!entry.upload) {
        // Already stored: nothing to send. Uppy needs a target, so this file's upload is
        // answered by our own API (a no-op POST that the page ignores).
        report(file, "duplicate", "duplicate");
        throw new Error("duplicate: already stored as " + entry.imageId);
      }
      return entry.upload;  // {method, url, fields, headers}: exactly what Uppy expects
    },
  });

uppy.on("upload-success", (file) => follow(file, uppy.getFile(file.id).meta.imageId));
uppy.on("upload-error", (file, error) => {
  const imageId = uppy.getFile(file.id).meta.imageId;
  if (String(error.message).startsWith("duplicate") && imageId) follow(file, imageId);
  else report(file, "error: " + error.message, "error");
});
window.imagepipeUppy = uppy;
