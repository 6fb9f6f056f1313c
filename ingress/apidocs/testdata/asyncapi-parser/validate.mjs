// Parses each AsyncAPI document named on the command line with the official
// parser (@asyncapi/parser, which also runs its Spectral ruleset) and prints
// every diagnostic. Exits 1 when a document does not parse or has an error
// or a warning (severity 0 or 1); information and hints are printed only.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
  for (const d of diagnostics) {
    const bad = d.severity <= 1;
    failed ||= bad;
    console.log(`${file}: ${bad ? 'FAIL' : 'note'} severity=${d.severity} ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
  }
  if (!document) {
    failed = true;
    console.log(`${file}: FAIL: the parser returned no document`);
  }
}
process.exit(failed ? 1 : 0);
