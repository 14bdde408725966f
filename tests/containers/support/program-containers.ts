import { firstUpResources, unwrap } from "../../infra/helpers/pulumi-mocks.js";
import type { ContainerInputs } from "./docker-run-args.js";

const CONTAINER = "docker:index/container:Container";

/** One container the program declares: its Pulumi resource name and its inputs with secrets unwrapped. */
export interface DeclaredContainer {
  resource: string;
  inputs: ContainerInputs;
}

/** What the program declares for the engine: its containers and its host scripts (remote commands' stdin, by name). */
export interface ProgramDeclaration {
  containers: DeclaredContainer[];
  scripts: Map<string, string>;
}

/**
 * Every `docker.Container` the Pulumi program registers for the test stack (tests/infra/helpers'
 * stack config, 300 users, the prod plan), as a first `pulumi up` would create them, run under Pulumi's
 * mocks; secret inputs (environment, uploads) are unwrapped to the values the engine would receive. With
 * them, the scripts the program runs on the hosts over SSH. `overrides` replace raw stack config values
 * (a secret the app checks the form of, say).
 */
export async function programDeclaration(
  overrides: Record<string, string> = {},
): Promise<ProgramDeclaration> {
  const resources = await firstUpResources(overrides);
  const scripts = new Map<string, string>();
  for (const r of resources) {
    if (r.type === "command:remote:Command" && r.inputs.stdin !== undefined) {
      scripts.set(r.name, unwrap(r.inputs.stdin) as string);
    }
  }
  const containers = resources
    .filter((r) => r.type === CONTAINER)
    .map((r) => {
      const inputs: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(r.inputs)) inputs[key] = unwrap(value);
      if (Array.isArray(inputs.uploads)) {
        inputs.uploads = (inputs.uploads as Record<string, unknown>[]).map((u) => ({
          ...u,
          content: unwrap(u.content),
        }));
      }
      return { resource: r.name, inputs: inputs as unknown as ContainerInputs };
    });
  return { containers, scripts };
}
