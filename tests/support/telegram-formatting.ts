/**
 * How the Bot API reads `parse_mode`: it strips the markup, returns plain `text`, and answers 400
 * "can't parse entities" for markup it does not accept. The fake applies the same rules so that a bot
 * which puts a user's prompt containing `<` into an HTML message fails here as it would in production.
 * @see https://core.telegram.org/bots/api#formatting-options
 */
export type ParseResult = { ok: true; text: string } | { ok: false; description: string };

/** Tags the Bot API accepts in HTML mode. */
const HTML_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "span",
  "tg-spoiler",
  "a",
  "code",
  "pre",
  "blockquote",
  "tg-emoji",
]);

const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

function cantParse(detail: string): ParseResult {
  return { ok: false, description: `Bad Request: can't parse entities: ${detail}` };
}

function parseHtml(source: string): ParseResult {
  const open: string[] = [];
  let text = "";
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === "<") {
      const end = source.indexOf(">", i);
      const offset = Buffer.byteLength(source.slice(0, i));
      if (end < 0) return cantParse(`Unclosed start tag at byte offset ${offset}`);
      const inner = source.slice(i + 1, end);
      const closing = inner.startsWith("/");
      const name = (closing ? inner.slice(1) : inner).trim().split(/\s+/)[0]?.toLowerCase() ?? "";
      if (!HTML_TAGS.has(name)) {
        return cantParse(`Unsupported ${closing ? "end" : "start"} tag "${name}" at byte offset ${offset}`);
      }
      if (closing) {
        if (open.pop() !== name)
          return cantParse(
            `Unmatched end tag at byte offset ${offset}, expected "</${open.at(-1) ?? ""}>", found "</${name}>"`,
          );
      } else {
        open.push(name);
      }
      i = end + 1;
    } else if (ch === "&") {
      const match = /^&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/.exec(source.slice(i));
      const entity = match?.[1];
      if (entity === undefined) {
        text += ch;
        i += 1;
      } else if (entity.startsWith("#")) {
        text += String.fromCodePoint(
          entity[1] === "x" ? Number.parseInt(entity.slice(2), 16) : Number(entity.slice(1)),
        );
        i += (match?.[0] ?? "").length;
      } else {
        const named = NAMED_ENTITIES[entity];
        if (named === undefined) return cantParse(`Unsupported HTML entity "&${entity};"`);
        text += named;
        i += (match?.[0] ?? "").length;
      }
    } else {
      text += ch;
      i += 1;
    }
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) return cantParse(`Can't find end tag corresponding to start tag "${unclosed}"`);
  return { ok: true, text };
}

/** Characters that MarkdownV2 reserves; outside markup they must be escaped with a backslash. */
const MARKDOWN_V2_RESERVED = new Set([..."_*[]()~`>#+-=|{}.!"]);
/** Reserved characters that may appear unescaped because they are markup. */
const MARKDOWN_V2_MARKUP = new Set([..."_*~`|[]()>"]);

function parseMarkdownV2(source: string): ParseResult {
  let text = "";
  for (let i = 0; i < source.length; i += 1) {
    const ch = source[i] as string;
    if (ch === "\\") {
      text += source[i + 1] ?? "";
      i += 1;
    } else if (MARKDOWN_V2_RESERVED.has(ch) && !MARKDOWN_V2_MARKUP.has(ch)) {
      return cantParse(`Character '${ch}' is reserved and must be escaped with the preceding '\\'`);
    } else if (!MARKDOWN_V2_MARKUP.has(ch)) {
      text += ch;
    }
  }
  return { ok: true, text };
}

/** Applies `parse_mode` to `source` as the Bot API does; no parse mode returns the text unchanged. */
export function applyParseMode(source: string, parseMode: string | undefined): ParseResult {
  if (parseMode === undefined || parseMode === "") return { ok: true, text: source };
  switch (parseMode.toLowerCase()) {
    case "html":
      return parseHtml(source);
    case "markdownv2":
      return parseMarkdownV2(source);
    case "markdown":
      return { ok: true, text: source.replace(/[*_`[\]]/g, "") };
    default:
      return { ok: false, description: `Bad Request: unsupported parse_mode` };
  }
}
