// The demo page's side of the HTTP API: one request helper (errors as the API's {code, message,
// field}) and the statuses an image, or a file on its way to being one, goes through.

// Nothing more will happen to these on their own: "rejected" is refused by the API or by S3.
export const SETTLED = new Set(["completed", "failed", "rejected"]);
export const LABELS = {
  queued: "queued",
  hashing: "hashing",
  uploading: "uploading",
  uploaded: "uploaded, waiting for processing",
  pending_upload: "waiting for the upload",
  processing: "processing",
  completed: "completed",
  failed: "failed",
  rejected: "rejected",
};

export async function request(method, path, body, options = {}) {
  const response = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    ...options,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || { code: String(response.status), message: text };
    throw Object.assign(new Error(error.message), { ...error, status: response.status });
  }
  return data;
}
