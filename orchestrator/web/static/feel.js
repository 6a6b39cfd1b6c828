/* The FEEL subset of form-js conditions (`conditional.hide`), with the server's semantics
   (orchestrator/forms/feel.py): the browser hides what the server will treat as hidden.
   Anything it cannot read leaves the field shown; the server's check stays the authority. */
"use strict";
var Feel = (function () {
  var TOKEN = /\s+|(\d+(?:\.\d+)?)|("(?:[^"\\]|\\.)*")|(<=|>=|!=|=|<|>|\+|-|\*|\/|\(|\)|\[|\]|,|\.)|([A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)/y;
  var KEYWORDS = ["and", "or", "not", "true", "false", "null", "in", "is", "defined"];

  function tokenize(text) {
    var tokens = [], position = 0, match;
    while (position < text.length) {
      TOKEN.lastIndex = position;
      match = TOKEN.exec(text);
      if (!match) { throw new Error("unreadable"); }
      if (match[1] !== undefined) { tokens.push(["number", match[1]]); }
      else if (match[2] !== undefined) { tokens.push(["string", match[2]]); }
      else if (match[3] !== undefined) { tokens.push(["op", match[3]]); }
      else if (match[4] !== undefined) { tokens.push(["name", match[4]]); }
      position = TOKEN.lastIndex;
    }
    return tokens;
  }

  function parse(expression) {
    var text = String(expression).trim();
    if (text.charAt(0) !== "=") { throw new Error("not FEEL"); }
    var tokens = tokenize(text.slice(1)), position = 0, depth = 0;
    function peek() { return tokens[position]; }
    function accept(value) {
      var token = peek();
      if (token && token[1] === value && (token[0] === "op" || token[0] === "name")) { position++; return true; }
      return false;
    }
    function expect(value) { if (!accept(value)) { throw new Error("expected " + value); } }
    function nested() { if (++depth > 40) { throw new Error("too deep"); } }
    function disjunction() {
      var node = conjunction();
      while (accept("or")) { node = {kind: "logic", op: "or", children: [node, conjunction()]}; }
      return node;
    }
    function conjunction() {
      var node = comparison();
      while (accept("and")) { node = {kind: "logic", op: "and", children: [node, comparison()]}; }
      return node;
    }
    function comparison() {
      var node = additive(), token = peek();
      if (token && token[0] === "op" && ["=", "!=", "<", "<=", ">", ">="].indexOf(token[1]) >= 0) {
        position++;
        return {kind: "compare", op: token[1], children: [node, additive()]};
      }
      if (accept("in")) { return {kind: "in", children: [node, additive()]}; }
      return node;
    }
    function binary(next, ops) {
      return function () {
        var node = next(), token;
        while ((token = peek()) && token[0] === "op" && ops.indexOf(token[1]) >= 0) {
          position++;
          node = {kind: "arith", op: token[1], children: [node, next()]};
        }
        return node;
      };
    }
    var multiplicative = binary(unary, ["*", "/"]);
    var additive = binary(multiplicative, ["+", "-"]);
    function unary() {
      if (accept("-")) { nested(); return {kind: "neg", children: [unary()]}; }
      var node = primary();
      while (accept(".")) {
        var token = peek();
        if (!token || token[0] !== "name") { throw new Error("path"); }
        position++;
        node = {kind: "path", name: token[1], children: [node]};
      }
      return node;
    }
    function primary() {
      var token = peek(), node, items;
      if (!token) { throw new Error("incomplete"); }
      position++;
      if (token[0] === "number") { return {kind: "literal", value: Number(token[1])}; }
      if (token[0] === "string") {
        return {kind: "literal", value: token[1].slice(1, -1).replace(/\\(.)/g, function (m, c) {
          return c === "n" ? "\n" : c === "t" ? "\t" : c;
        })};
      }
      if (token[1] === "(") { nested(); node = disjunction(); expect(")"); return node; }
      if (token[1] === "[") {
        nested();
        items = [];
        if (!accept("]")) {
          items.push(disjunction());
          while (accept(",")) { items.push(disjunction()); }
          expect("]");
        }
        return {kind: "list", children: items};
      }
      if (token[0] === "name") {
        if (token[1] === "true" || token[1] === "false") { return {kind: "literal", value: token[1] === "true"}; }
        if (token[1] === "null") { return {kind: "literal", value: null}; }
        if (token[1] === "not") { expect("("); nested(); node = disjunction(); expect(")"); return {kind: "not", children: [node]}; }
        if (token[1] === "is" && accept("defined")) {
          expect("("); node = disjunction(); expect(")"); return {kind: "defined", children: [node]};
        }
        if (KEYWORDS.indexOf(token[1]) >= 0) { throw new Error("keyword"); }
        return {kind: "name", name: token[1]};
      }
      throw new Error("unexpected");
    }
    var tree = disjunction();
    if (position < tokens.length) { throw new Error("trailing"); }
    return tree;
  }

  function isNumber(v) { return typeof v === "number" && isFinite(v); }
  function absent(v) { return v === null || v === undefined; }
  function equal(a, b) {
    if (absent(a) || absent(b)) { return absent(a) && absent(b); }
    if (typeof a !== typeof b) { return null; }
    return a === b;
  }
  function order(op, a, b) {
    if (!((isNumber(a) && isNumber(b)) || (typeof a === "string" && typeof b === "string"))) { return null; }
    return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
  }

  function evaluate(node, data) {
    var left, right, value, options;
    switch (node.kind) {
      case "literal": return node.value;
      case "name": return Object.prototype.hasOwnProperty.call(data, node.name) ? data[node.name] : null;
      case "path":
        value = evaluate(node.children[0], data);
        return value && typeof value === "object" && !Array.isArray(value) && node.name in value ? value[node.name] : null;
      case "list": return node.children.map(function (child) { return evaluate(child, data); });
      case "compare":
        left = evaluate(node.children[0], data); right = evaluate(node.children[1], data);
        if (node.op === "=") { return equal(left, right); }
        if (node.op === "!=") { value = equal(left, right); return value === null ? null : !value; }
        return order(node.op, left, right);
      case "logic":
        left = evaluate(node.children[0], data); right = evaluate(node.children[1], data);
        if (node.op === "and") {
          if (left === false || right === false) { return false; }
          return left === true && right === true ? true : null;
        }
        if (left === true || right === true) { return true; }
        return left === false && right === false ? false : null;
      case "not":
        value = evaluate(node.children[0], data);
        return typeof value === "boolean" ? !value : null;
      case "in":
        value = evaluate(node.children[0], data); options = evaluate(node.children[1], data);
        if (!Array.isArray(options)) { return equal(value, options); }
        return options.some(function (option) { return equal(value, option) === true; });
      case "defined": return !absent(evaluate(node.children[0], data));
      case "neg":
        value = evaluate(node.children[0], data);
        return isNumber(value) ? -value : null;
      default:
        left = evaluate(node.children[0], data); right = evaluate(node.children[1], data);
        if (node.op === "+" && typeof left === "string" && typeof right === "string") { return left + right; }
        if (!isNumber(left) || !isNumber(right)) { return null; }
        if (node.op === "+") { return left + right; }
        if (node.op === "-") { return left - right; }
        if (node.op === "*") { return left * right; }
        return right !== 0 ? left / right : null;
    }
  }

  /* True only when the expression is readable and evaluates to true (as on the server). */
  function hides(expression, data) {
    try { return evaluate(parse(expression), data) === true; } catch (e) { return false; }
  }

  return {parse: parse, evaluate: evaluate, hides: hides};
})();
