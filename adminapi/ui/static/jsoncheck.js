// jsoncheck: a strict JSON (RFC 8259) checker for the JSON secret editor.
//
// JSON.parse accepts the same documents, but its error messages quote the
// text around the error, and the editor holds a secret: checkObject reports
// the line and column of the first error with a message that never quotes
// the input.

const MAX_DEPTH = 512;

// ESCAPES maps the character after a backslash to what it stands for.
const ESCAPES = new Map([
  [0x22, '"'], [0x5c, '\\'], [0x2f, '/'], [0x62, '\b'],
  [0x66, '\f'], [0x6e, '\n'], [0x72, '\r'], [0x74, '\t'],
]);

class JSONCheckError extends Error {
  constructor(message, index) {
    super(message);
    this.index = index;
  }
}

function isWS(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c) {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c) {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

class Checker {
  constructor(text) {
    this.s = text;
    this.i = 0;
    this.depth = 0;
  }

  fail(message, index = this.i) {
    throw new JSONCheckError(message, index);
  }

  code() {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1;
  }

  skipWS() {
    while (this.i < this.s.length && isWS(this.s.charCodeAt(this.i))) this.i++;
  }

  expectValue() {
    this.skipWS();
    const c = this.code();
    switch (c) {
      case 0x7b: return this.object(); // {
      case 0x5b: return this.array(); // [
      case 0x22: return this.string(); // "
      case 0x74: return this.literal('true');
      case 0x66: return this.literal('false');
      case 0x6e: return this.literal('null');
      case -1: return this.fail('unexpected end of input: a value is missing');
      default:
        if (c === 0x2d || isDigit(c)) return this.number();
        if (c === 0x27) return this.fail('strings must use double quotes');
        return this.fail('expected a value (a string, number, object, array, true, false or null)');
    }
  }

  enter() {
    if (++this.depth > MAX_DEPTH) this.fail(`nesting is deeper than ${MAX_DEPTH} levels`);
  }

  // members checks an object's or array's comma-separated members, from its
  // opening bracket through close ("}" or "]"), reading each with member;
  // name ("object" or "array") is for the messages.
  members(close, name, member) {
    const end = close.charCodeAt(0);
    this.enter();
    this.i++; // the opening bracket
    this.skipWS();
    if (this.code() !== end) {
      for (;;) {
        member();
        this.skipWS();
        const d = this.code();
        if (d === end) break;
        if (d === -1) this.fail(`unexpected end of input: the ${name} is not closed with "${close}"`);
        if (d !== 0x2c) this.fail(`expected "," or "${close}" after the value`);
        this.i++;
        this.skipWS();
        if (this.code() === end) this.fail(`trailing comma before "${close}"`);
      }
    }
    this.i++;
    this.depth--;
  }

  // object checks an object and returns its keys.
  object() {
    const keys = [];
    this.members('}', 'object', () => {
      const c = this.code();
      if (c === -1) this.fail('unexpected end of input: the object is not closed with "}"');
      if (c !== 0x22) this.fail(c === 0x27 ? 'keys must use double quotes' : 'expected a key in double quotes');
      keys.push(this.string());
      this.skipWS();
      if (this.code() !== 0x3a) this.fail(this.code() === -1 ? 'unexpected end of input: expected ":"' : 'expected ":" after the key');
      this.i++;
      this.expectValue();
    });
    return keys;
  }

  array() {
    this.members(']', 'array', () => this.expectValue());
    return null;
  }

  // string checks a string and returns its decoded content (used for keys).
  string() {
    const start = ++this.i; // opening quote
    let out = '';
    let run = start;
    for (;;) {
      const c = this.code();
      if (c === -1) this.fail('unexpected end of input: the string is not closed with a double quote');
      if (c === 0x22) {
        out += this.s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string: write it as an escape such as \\n or \\t');
      if (c === 0x5c) {
        out += this.s.slice(run, this.i);
        const e = this.s.charCodeAt(this.i + 1);
        if (ESCAPES.has(e)) {
          out += ESCAPES.get(e);
          this.i += 2;
        } else if (e === 0x75) { // \uXXXX
          for (let k = 2; k < 6; k++) {
            if (!isHex(this.s.charCodeAt(this.i + k))) this.fail('invalid \\u escape: four hex digits expected', this.i + k);
          }
          out += String.fromCharCode(parseInt(this.s.slice(this.i + 2, this.i + 6), 16));
          this.i += 6;
        } else {
          this.fail('invalid escape in a string', this.i + 1);
        }
        run = this.i;
        continue;
      }
      this.i++;
    }
  }

  number() {
    if (this.code() === 0x2d) this.i++;
    const c = this.code();
    if (c === 0x30) {
      this.i++;
      if (isDigit(this.code())) this.fail('numbers cannot have leading zeros');
    } else if (isDigit(c)) {
      while (isDigit(this.code())) this.i++;
    } else {
      this.fail('invalid number: a digit is expected');
    }
    if (this.code() === 0x2e) {
      this.i++;
      if (!isDigit(this.code())) this.fail('invalid number: a digit is expected after "."');
      while (isDigit(this.code())) this.i++;
    }
    if (this.code() === 0x65 || this.code() === 0x45) {
      this.i++;
      if (this.code() === 0x2b || this.code() === 0x2d) this.i++;
      if (!isDigit(this.code())) this.fail('invalid number: a digit is expected in the exponent');
      while (isDigit(this.code())) this.i++;
    }
    return null;
  }

  literal(word) {
    for (let k = 0; k < word.length; k++) {
      if (this.s.charCodeAt(this.i + k) !== word.charCodeAt(k)) {
        this.fail('expected a value (a string, number, object, array, true, false or null)', this.i);
      }
    }
    this.i += word.length;
    return null;
  }
}

// position turns a string index into a 1-based line and column (columns
// count UTF-16 code units, as the editor's caret does).
export function position(text, index) {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(index, text.length);
  for (let k = 0; k < end; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

// checkObject checks that text is one JSON object. It returns
// {ok: true, keys} with the object's top-level keys, or
// {ok: false, message, line, column, index}. Messages never quote the text.
export function checkObject(text) {
  const c = new Checker(text);
  try {
    c.skipWS();
    const start = c.i;
    if (c.code() === -1) return { ok: false, empty: true, message: 'enter a JSON object, such as {"key": "value"}', line: 1, column: 1, index: 0 };
    const first = c.code();
    const keys = c.expectValue();
    c.skipWS();
    if (c.code() !== -1) c.fail('unexpected text after the end of the JSON value');
    if (first !== 0x7b) {
      return { ok: false, message: 'must be a JSON object ({…}), not an array or a single value', ...position(text, start), index: start };
    }
    return { ok: true, keys };
  } catch (err) {
    if (!(err instanceof JSONCheckError)) throw err;
    return { ok: false, message: err.message, ...position(text, err.index), index: err.index };
  }
}
