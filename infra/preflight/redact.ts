/**
 * Replaces every secret value in text with `<secret>`. The checks never put a secret in a row on purpose;
 * this is the last guard on everything preflight prints (rows, errors), because a webhook URL, a fetch
 * error or a remote command's output can carry the token by accident (an old bot's webhook path often is
 * the token itself).
 */
export class Redactor {
  private readonly secrets: string[] = [];

  /** Adds a value to hide; values shorter than 6 characters are too common to hide safely and are refused. */
  add(secret: string | undefined): void {
    if (secret === undefined) return;
    const value = secret.trim();
    if (value.length < 6) throw new Error("a secret shorter than 6 characters cannot be redacted reliably");
    this.secrets.push(value, encodeURIComponent(value));
    // The longest first, so a secret that contains another is hidden whole.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join("<secret>");
    return out;
  }
}
