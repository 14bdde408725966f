/**
 * Building blocks of the host scripts. Every script the program runs over SSH is assembled from these, so
 * all of them share one prelude (strict mode) and one way of installing a file: write it only when its bytes
 * differ, which is what makes a second `pulumi up` change nothing.
 */

/** A file a script installs on the host. */
export interface HostFile {
  /** Absolute path on the host. */
  path: string;
  /** Octal mode, e.g. "0644". */
  mode: string;
  /** Exact content; written byte for byte. */
  content: string;
}

/** Heredoc delimiter; a file whose content has a line equal to it cannot be embedded and is refused. */
const DELIMITER = "TAPBOT_FILE_END";

/**
 * The first lines of every script: bash strict mode and `install_file`, which copies stdin to a path only
 * when the content changed and returns 0 when it wrote, 1 when the file was already up to date.
 */
export function scriptPrelude(purpose: string): string {
  return `#!/usr/bin/env bash
# ${purpose}
# Rendered by the tapbot Pulumi program (infra/). Idempotent: running it twice changes nothing the second time.
set -euo pipefail
umask 022

# install_file PATH MODE < content: returns 0 when PATH was (re)written, 1 when it already had this content.
install_file() {
  local path="$1" mode="$2" tmp
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$path.tapbot.XXXXXX")"
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  return 0
}
`;
}

/**
 * Shell lines that install \`file\` and, when it changed, run \`onChange\` (one command per entry).
 * The heredoc is quoted, so nothing in the content is expanded by the shell.
 */
export function installFileLines(file: HostFile, onChange: string[] = []): string {
  if (!file.path.startsWith("/")) throw new Error(`host file path must be absolute; got ${file.path}`);
  if (!/^0[0-7]{3}$/.test(file.mode))
    throw new Error(`host file mode must be octal like 0644; got ${file.mode}`);
  if (file.content.split("\n").includes(DELIMITER)) {
    throw new Error(
      `content of ${file.path} contains the line ${DELIMITER}, which would end the heredoc early`,
    );
  }
  const body = file.content.endsWith("\n") ? file.content : `${file.content}\n`;
  const call = `install_file ${shellQuote(file.path)} ${file.mode}`;
  // Without a reaction, "already up to date" (status 1) must not stop a script under `set -e`.
  if (onChange.length === 0) return `${call} <<'${DELIMITER}' || true\n${body}${DELIMITER}\n`;
  return `if ${call} <<'${DELIMITER}'\n${body}${DELIMITER}\nthen\n${onChange.map((c) => `  ${c}`).join("\n")}\nfi\n`;
}

/** Single-quotes a word for bash. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}
