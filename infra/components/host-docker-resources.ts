import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The images and volumes of one host's service component, named `<component>-<key>-image` and
 * `<component>-<key>-volume`. Images stay on the host between deploys (keepLocally) and are pulled only once
 * the host is hardened (`dependsOn`); volumes are named `tapbot-<key>` on the host, so data outlives every
 * container replacement.
 */
export function hostDockerResources(
  component: string,
  child: pulumi.CustomResourceOptions,
  dependsOn: pulumi.Input<pulumi.Resource>[],
) {
  return {
    image: (key: string, ref: string) =>
      new docker.RemoteImage(
        `${component}-${key}-image`,
        { name: ref, keepLocally: true },
        { ...child, dependsOn },
      ),
    volume: (key: string) =>
      new docker.Volume(`${component}-${key}-volume`, { name: `tapbot-${key}` }, child),
  };
}
