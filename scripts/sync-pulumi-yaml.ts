/**
 * Writes Pulumi.yaml's typed `config:` block from CONFIG_SCHEMA (components/config.ts), the single
 * source of truth. `npm run sync:pulumi-yaml` after changing a setting; a unit test fails while the two differ.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { projectFileDocument } from "../components/projectFile";

const file = path.resolve(__dirname, "..", "Pulumi.yaml");
fs.writeFileSync(file, stringify(projectFileDocument(), { lineWidth: 0 }));
console.log(`wrote ${file}`);
