/**
 * Loads infra/index.ts the way Pulumi's Node.js runtime does for an ES module package: a plain `node`
 * started with `--import tsx` (Pulumi.yaml's nodeargs) that `import()`s the entry file's URL. Pulumi's mocks
 * stand in for the engine. Prints the names of the stack outputs and the worker count as JSON.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { installMocks, setStackConfig } from "./pulumi-mocks.js";

await installMocks();
setStackConfig(Number(process.env.TAPBOT_TEST_USERS ?? "300"));
const entry = (await import(pathToFileURL(resolve("infra/index.ts")).href)) as Record<string, unknown> & {
  workers: { count: number };
};
console.log(JSON.stringify({ exports: Object.keys(entry).sort(), workers: entry.workers.count }));
