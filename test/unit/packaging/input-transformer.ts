/**
 * What an EventBridge input transformer makes of an event, as AWS documents it, to read our alert templates
 * the way on-call will: variables from `InputPathsMap` (a JSON path that is absent creates no variable);
 * a text template is one quoted string per line; in a JSON template a variable in a value position becomes
 * the JSON value, and a variable inside a string is inserted as text.
 *
 * EventBridge does not promise to escape what it inserts inside a string, so `renderJson` refuses to
 * insert anything there that would need escaping: our templates put free text (which may hold quotes,
 * as Kubernetes error messages do) only in value positions.
 */

export type Values = Record<string, unknown>;

/** The variables of an InputPathsMap for one event (`$.a.b-c` paths only, which is all we use). */
export function variables(paths: Record<string, string>, event: unknown): Values {
  const out: Values = {};
  for (const [name, p] of Object.entries(paths)) {
    if (!p.startsWith('$.')) throw new Error(`unsupported path ${p}`);
    let v: unknown = event;
    for (const key of p.slice(2).split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    if (v !== undefined) out[name] = v;
  }
  return out;
}

const text = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** A text template (one JSON string per line) -> the message text. */
export function renderText(template: string, values: Values): string {
  return template
    .trim()
    .split('\n')
    .map((line) => {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'string') throw new Error(`a text template line must be one quoted string: ${line}`);
      return parsed.replace(/<([A-Za-z0-9_.-]+)>/g, (_, name: string) => text(values[name]));
    })
    .join('\n');
}

/** Where a JSON template uses each variable: inside a string, or as a value. */
export function placements(template: string): { inString: Set<string>; asValue: Set<string> } {
  const inString = new Set<string>();
  const asValue = new Set<string>();
  scan(template, (name, quoted) => {
    (quoted ? inString : asValue).add(name);
    return '';
  });
  return { inString, asValue };
}

/** A JSON template -> the JSON document the target receives. */
export function renderJson(template: string, values: Values): unknown {
  const rendered = scan(template, (name, quoted) => {
    const v = values[name];
    if (quoted) {
      const t = text(v);
      if (JSON.stringify(t) !== `"${t}"`) throw new Error(`<${name}> is inside a string but its value needs escaping: ${t}`);
      return t;
    }
    if (v === undefined) throw new Error(`<${name}> is a JSON value but the event has no such field: the target would get invalid JSON`);
    return JSON.stringify(v);
  });
  return JSON.parse(rendered);
}

function scan(template: string, substitute: (name: string, inString: boolean) => string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < template.length; ) {
    const c = template[i]!;
    if (quoted && c === '\\') {
      out += template.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (c === '"') quoted = !quoted;
    const variable = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(template.slice(i)) : null;
    if (variable) {
      out += substitute(variable[1]!, quoted);
      i += variable[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
