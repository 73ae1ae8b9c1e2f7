// `make assets`: bundle the page's opening script with the locked npm packages into one ES module,
// and record its subresource integrity and the library versions the page names.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const OUT = "mdph_bridge/web/static/build";
const LIBRARIES = ["age-encryption", "@noble/curves", "@noble/hashes"];

mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: ["mdph_bridge/web/scripts/ouverture.js"],
  outfile: `${OUT}/ouverture.js`,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  legalComments: "eof",
  logLevel: "warning",
});
const bundle = readFileSync(`${OUT}/ouverture.js`);
const versions = Object.fromEntries(LIBRARIES.map((name) => {
  const meta = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"));
  return [name, meta.version];
}));
const integrity = "sha384-" + createHash("sha384").update(bundle).digest("base64");
writeFileSync(`${OUT}/ouverture.json`, JSON.stringify({ integrity, versions }, null, 2) + "\n");
