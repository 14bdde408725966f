/**
 * A process that starts an engine with one running container, prints where they live as one JSON line and
 * waits to be killed: dockerd.test.ts sends it a signal and checks that nothing of the engine is left.
 */
import { importBusyboxImage } from "./busybox-image.js";
import { startDockerd } from "./dockerd.js";

const engine = await startDockerd();
const image = await importBusyboxImage(engine);
await engine.mustDocker(["run", "-d", "--name", "held", image, "sleep", "600"]);
console.log(JSON.stringify({ dir: engine.dir, netns: engine.netns, cgroupParent: engine.cgroupParent }));
setInterval(() => {}, 60_000);
