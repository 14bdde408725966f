/**
 * Entry point of the tapbot Pulumi program (`pulumi up -s prod`). Pulumi runs it as an ES module through
 * `node --import tsx` (see Pulumi.yaml); every export is a stack output.
 */
import { deployStack } from "./program.js";

const outputs = await deployStack();

export const urls = outputs.urls;
export const users = outputs.users;
export const workers = outputs.workers;
export const hosts = outputs.hosts;
export const bindsFirst = outputs.bindsFirst;
export const findings = outputs.findings;
/** Secret: the app's PostgreSQL URL over the tunnel (for `npm run migrate` from the automation host). */
export const databaseUrl = outputs.databaseUrl;
