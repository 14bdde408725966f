import { basename, dirname } from "node:path";

/** A Pulumi stack name as `Pulumi.<name>.yaml` names it: letters, digits, ".", "_" and "-". */
const STACK_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * What is wrong with `--stack <name>`, or undefined when it is a stack name. A path to a stack file is the
 * likely mistake (`--stack ../tapbot/Pulumi.prod.yaml`): the message then says which flags mean that, rather
 * than looking for `Pulumi.../tapbot/Pulumi.prod.yaml.yaml`.
 */
export function stackNameProblem(name: string): string | undefined {
  if (STACK_NAME.test(name) && !/^Pulumi\..+\.yaml$/.test(name)) return undefined;
  const file = /^Pulumi\.([A-Za-z0-9._-]+)\.yaml$/.exec(basename(name));
  const hint =
    file === null
      ? ""
      : `; for that file give --stack ${file[1]}${dirname(name) === "." ? "" : ` --stack-dir ${dirname(name)}`}`;
  return `--stack "${name}": a stack name is letters, digits, ".", "_" and "-" (Pulumi.<name>.yaml)${hint}`;
}
