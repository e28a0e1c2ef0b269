// Parses and analyses KQL queries with Microsoft's Kusto language service
// (@kusto/language-service-next, installed by scripts/test into .tools-kusto/) against a schema.
// Run by tests/ops/test_dashboard.py: reads {"modules": dir, "tables": {name: "(col:type, ...)"},
// "queries": {name: text}} on standard input and prints {name: [diagnostic, ...]} as JSON, each
// diagnostic {severity, code, message, start, text}. Every diagnostic is printed; the test
// decides which fail.
"use strict";
const fs = require("fs");
const path = require("path");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const library = path.join(input.modules, "@kusto", "language-service-next");
require(path.join(library, "bridge.min.js"));
require(path.join(library, "Kusto.Language.Bridge.min.js"));

const { Symbols, GlobalState, KustoCode } = Kusto.Language;
const tables = Object.entries(input.tables).map(([name, schema]) =>
  Symbols.TableSymbol.From(schema).WithName(name),
);
const database = new Symbols.DatabaseSymbol.ctor("logs", tables);
const globals = GlobalState.Default.WithDatabase(database);

const report = {};
for (const [name, text] of Object.entries(input.queries)) {
  const code = KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const found = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    found.push({
      severity: d.Severity,
      code: d.Code,
      message: d.Message,
      start: d.Start,
      text: text.substr(d.Start, Math.max(d.Length, 1)),
    });
  }
  report[name] = found;
}
process.stdout.write(JSON.stringify(report));
