// What the demo page draws of one image: its <picture> over the variants, and the detail
// view's panel (facts, camera, colours, labels, near-duplicates, variants, actions).

const FORMATS = ["avif", "webp"];  // best first: the browser takes the first type it supports

export function thumbSrc(image) {
  const thumb = image.thumbnail;
  return thumb ? thumb.dataUri || thumb.url : "";
}

export function describe(error) {
  return error ? `${error.code}: ${error.message || ""}`.replace(/: $/, "") : "";
}

// A <picture> with one <source> per format, its srcset over the variant widths, and a WebP
// <img> fallback; `sizes` says how wide it is drawn.
export function renderPicture(picture, image, sizes) {
  for (const format of FORMATS) {
    // A narrow original gives medium and large of one width: one candidate per width.
    const byWidth = new Map(image.variants.filter((v) => v.format === format).map((v) => [v.width, v]));
    const variants = [...byWidth.values()].sort((a, b) => a.width - b.width);
    if (!variants.length) continue;
    const source = document.createElement("source");
    source.type = `image/${format}`;
    source.srcset = variants.map((v) => `${v.url} ${v.width}w`).join(", ");
    source.sizes = sizes;
    picture.append(source);
  }
  const img = document.createElement("img");
  const fallback = image.variants.find((v) => v.name === "medium" && v.format === "webp")
    || image.variants.find((v) => v.format === "webp");
  img.src = fallback ? fallback.url : image.original.url;
  img.alt = image.filename;
  img.decoding = "async";
  if (image.width && image.height) {
    img.width = image.width;
    img.height = image.height;
  }
  picture.append(img);
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function formatBytes(n) {
  if (n == null) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

// A <dl> of the pairs whose value is there.
function facts(pairs) {
  const list = el("dl", null, "facts");
  for (const [name, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", name), el("dd", value));
  }
  return list;
}

function section(title, ...content) {
  const box = el("section", null, "panel-section");
  box.append(el("h3", title), ...content);
  return box;
}

function camera(exif) {
  const exposure = [
    exif.exposureTime && `${exif.exposureTime} s`,
    exif.fNumber && `f/${exif.fNumber}`,
    exif.iso && `ISO ${exif.iso}`,
    exif.focalLength && `${exif.focalLength} mm`,
  ].filter(Boolean).join(" · ");
  return facts([
    ["camera", [exif.make, exif.model].filter(Boolean).join(" ")],
    ["lens", exif.lens],
    ["exposure", exposure],
    ["taken", formatDate(exif.dateTimeOriginal)],
  ]);
}

function swatches(colors) {
  const row = el("div", null, "swatches");
  const all = [...(colors.dominant || []), ...(colors.average ? [colors.average] : [])];
  all.forEach((hex, i) => {
    const swatch = el("span", null, "swatch");
    // CSSOM, not a style attribute: the page's policy allows no inline styles.
    swatch.style.backgroundColor = hex;
    const label = i === all.length - 1 && colors.average ? `${hex} (average)` : hex;
    swatch.title = label;
    const item = el("span", null, "colour");
    item.append(swatch, el("code", label));
    row.append(item);
  });
  return row;
}

function labelList(metadata) {
  const names = [...(metadata.labels || []), ...(metadata.tags || [])]
    .map((l) => (typeof l === "string" ? l : l.name || l.label))
    .filter(Boolean);
  const list = el("ul", null, "labels");
  [...new Set(names)].forEach((name) => list.append(el("li", name)));
  return list;
}

// Thumbnails linking to other images' detail views, each captioned.
function thumbLinks(images, caption) {
  const list = el("ul", null, "similar");
  for (const other of images) {
    const link = el("a");
    link.href = `#image=${other.imageId}`;
    const img = el("img");
    img.src = thumbSrc(other);
    img.alt = "";
    link.append(img, el("span", caption(other)));
    const item = el("li");
    item.append(link);
    list.append(item);
  }
  return list;
}

function variantsTable(variants) {
  const table = el("table", null, "variants");
  const head = el("tr");
  ["variant", "format", "size (px)", "bytes"].forEach((h) => head.append(el("th", h)));
  table.append(el("thead"));
  table.tHead.append(head);
  const body = el("tbody");
  const order = { small: 0, medium: 1, large: 2 };
  [...variants]
    .sort((a, b) => (order[a.name] ?? 9) - (order[b.name] ?? 9) || a.format.localeCompare(b.format))
    .forEach((v) => {
      const row = el("tr");
      const name = el("td");
      const link = el("a", v.name);
      link.href = v.url;
      link.target = "_blank";
      link.rel = "noopener";
      name.append(link);
      row.append(name, el("td", v.format), el("td", `${v.width}×${v.height}`), el("td", formatBytes(v.size)));
      body.append(row);
    });
  table.append(body);
  return table;
}

export function renderDetailPanel(panel, image, { onDelete, onUnlink, similar = [] }) {
  const metadata = image.metadata || {};
  const parts = [];
  if (image.error) {
    const reason = el("p", null, "reason");
    reason.append(el("strong", "failed: "), describe(image.error));
    parts.push(reason);
  }
  parts.push(facts([
    ["status", image.status],
    ["dimensions", image.width && image.height ? `${image.width}×${image.height} px` : ""],
    ["file", [formatBytes(image.size), image.contentType].filter(Boolean).join(", ")],
    ["format", metadata.format && [metadata.format, metadata.mode, metadata.iccProfile].filter(Boolean).join(", ")],
    ["uploaded", formatDate(image.uploadedAt)],
    ["processed", formatDate(image.processedAt)],
  ]));
  const exif = metadata.exif || {};
  if (Object.keys(exif).length) parts.push(section("camera", camera(exif)));
  if (metadata.gps) parts.push(section("location", facts([["GPS", `${metadata.gps.lat}, ${metadata.gps.lon}`]])));
  if (metadata.colors) parts.push(section("colours", swatches(metadata.colors)));
  const labels = labelList(metadata);
  if (labels.childElementCount) parts.push(section("labels", labels));
  if (image.similar && image.similar.length) parts.push(section("near-duplicates", thumbLinks(image.similar, (o) => `${o.filename} (distance ${o.distance})`)));
  const nearIds = new Set((image.similar || []).map((other) => other.imageId));
  const alike = similar.filter((other) => !nearIds.has(other.imageId));
  if (alike.length) parts.push(section("similar", thumbLinks(alike, (o) => `${o.filename} (${o.score.toFixed(2)})`)));
  if (image.variants && image.variants.length) parts.push(section("variants", variantsTable(image.variants)));
  const actions = el("div", null, "actions");
  const unlink = el("button", "remove from session");
  unlink.type = "button";
  unlink.className = "unlink";
  unlink.onclick = onUnlink;
  const remove = el("button", "delete", "delete danger");
  remove.type = "button";
  remove.onclick = onDelete;
  actions.append(unlink, remove);
  parts.push(actions);
  panel.replaceChildren(...parts);
}
