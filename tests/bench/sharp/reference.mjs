// The reference pipeline of issue #16 in sharp, measured in this process:
//
//     node reference.mjs PHOTO OUTDIR PRESET     (PRESET: defaults | effort3)
//     node reference.mjs --versions
//
// prints one JSON object on stdout (seconds, CPU seconds, RSS in MiB, the outputs) and writes
// <name>.<format> into OUTDIR. tests/bench/sharp.py starts it with VIPS_CONCURRENCY=1 and
// UV_THREADPOOL_SIZE=1, pinned to one CPU; sharp.concurrency(1) below says the same to libvips.
// Every output is its own pipeline from the file's bytes, run one after the other, as
// `sharp(input).rotate().resize(...).<format>(...)` calls would be in a handler: .rotate()
// with no arguments honours the EXIF orientation. The encoded bytes are kept in memory and
// written once the measurement is taken, as tests/bench/jobs.py does for ours.

import { readFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import sharp from "sharp";

const THUMBNAIL = { name: "thumbnail", size: 150, quality: 70 };
// name, width, quality: the same as imagepipe.imaging.VARIANT_SPECS.
const VARIANTS = [
  ["small", 640, 80],
  ["medium", 1024, 85],
  ["large", 1920, 90],
];
// The AVIF options per preset; sharp's defaults otherwise (WebP effort 4, AVIF effort 4 4:4:4).
const PRESETS = {
  defaults: (quality) => ({ quality }),
  effort3: (quality) => ({ quality, effort: 3 }),
};

const MIB = 1024 * 1024;

function cpuSeconds() {
  const { user, system } = process.cpuUsage(); // microseconds, every thread of the process
  return (user + system) / 1e6;
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

async function render(name, format, pipeline) {
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  return { name, format, width: info.width, height: info.height, data };
}

async function run(photo, outdir, preset) {
  const avifOptions = PRESETS[preset];
  if (!avifOptions) {
    throw new Error(`unknown preset ${preset}; known: ${Object.keys(PRESETS).join(", ")}`);
  }
  sharp.concurrency(1);
  const input = await readFile(photo);
  const rssBefore = process.memoryUsage().rss / MIB;
  const cpuBefore = cpuSeconds();
  const started = now();

  const rendered = [];
  rendered.push(
    await render(
      THUMBNAIL.name,
      "webp",
      sharp(input)
        .rotate()
        .resize(THUMBNAIL.size, THUMBNAIL.size, { fit: "cover" })
        .webp({ quality: THUMBNAIL.quality }),
    ),
  );
  const thumbnailed = now();
  for (const [name, width, quality] of VARIANTS) {
    const resized = () =>
      sharp(input).rotate().resize(width, null, { withoutEnlargement: true });
    rendered.push(await render(name, "webp", resized().webp({ quality })));
    rendered.push(await render(name, "avif", resized().avif(avifOptions(quality))));
  }
  const finished = now();

  const cpu = cpuSeconds() - cpuBefore;
  const rssPeak = process.resourceUsage().maxRSS / 1024; // KiB
  await mkdir(outdir, { recursive: true });
  const outputs = [];
  for (const { name, format, width, height, data } of rendered) {
    const file = path.join(outdir, `${name}.${format}`);
    await writeFile(file, data);
    outputs.push({ name, format, width, height, size: data.length, file });
  }
  return {
    job: `sharp-${preset}`,
    photo: path.basename(photo),
    times: {
      thumbnail: thumbnailed - started,
      variants: finished - thumbnailed,
      total: finished - started,
    },
    cpu_seconds: cpu,
    rss_before_mib: rssBefore,
    rss_peak_mib: rssPeak,
    concurrency: sharp.concurrency(),
    versions: { sharp: sharp.versions.sharp, vips: sharp.versions.vips },
    outputs,
  };
}

async function main(argv) {
  if (argv[0] === "--versions") {
    return { sharp: sharp.versions.sharp, vips: sharp.versions.vips };
  }
  if (argv.length !== 3) {
    throw new Error("usage: node reference.mjs PHOTO OUTDIR defaults|effort3");
  }
  const [photo, outdir, preset] = argv;
  return run(photo, outdir, preset);
}

main(process.argv.slice(2)).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exitCode = 1;
  },
);
