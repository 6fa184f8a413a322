/** Tooling: a learner's starting point for each chapter (workshop/NN-name/), cut out of the
 *  ladder's one source like the chapters themselves (scripts/ladder.ts).
 *
 *  The starter of chapter N is chapter N with holes where its lesson is. Which lines are new in
 *  chapter N is known from the markers, so no extra marker is needed:
 *  - a function (or class method) that chapter N adds keeps its comment and its signature; its
 *    body becomes `throw new Error('TODO (chapter NN): …')`;
 *  - new lines inside a function that an earlier chapter had become one line,
 *    `// TODO (NN): …`, naming what the removed lines called, so the learner knows where to
 *    write. When those lines are not whole statements, or declare a name that the rest of the
 *    function uses, or return its result, the function's body becomes a TODO instead;
 *  - everything else (imports, types, constants, tables such as the verbs of main.ts) is kept
 *    as chapter N has it: it is the wiring, not the lesson, and it keeps the starter compiling.
 *  Chapter 01 has no chapter before it: every one of its functions is a TODO. */
import ts from 'typescript';
import { type Ladder } from './ladder.ts';

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Chapter `index`'s starter files: path → content. */
export function projectStarter(ladder: Ladder, index: number): Map<string, string> {
  const number = ladder.chapters[index]!.slice(0, 2);
  const has = (r: { first: number; last: number }) => r.first <= index && index <= r.last;
  const files = new Map<string, string>();
  for (const file of ladder.files.filter(has)) {
    const lines = file.lines.filter(has);
    files.set(file.path, starterOf(file.path, lines.map((l) => l.text), lines.map((l) => l.first === index), number));
  }
  return files;
}

/** One file of chapter `number` with holes: `isNew[i]` says whether line i is new in it. */
export function starterOf(path: string, lines: string[], isNew: boolean[], number: string): string {
  const text = lines.map((l) => l + '\n').join('');
  if (!isNew.includes(true)) return text;
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const lineStarts = source.getLineStarts();
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const edits: Edit[] = [];

  for (const fn of functionsOf(source)) {
    const body = fn.body!;
    const first = lineOf(body.getStart(source));
    const last = lineOf(body.end);
    const inner = range(first + 1, last);
    const declared = lineOf(fn.getStart(source));
    if (!range(declared, last + 1).some((l) => isNew[l])) continue;
    const name = nameOf(fn, source);
    const indent = lines[declared]!.match(/^\s*/)![0];
    // A derived class's constructor must call super() before anything else, even a throw.
    const [opening] = body.statements;
    const superCall = opening && ts.isExpressionStatement(opening) && ts.isCallExpression(opening.expression) && opening.expression.expression.kind === ts.SyntaxKind.SuperKeyword;
    // The body's own comments stay, above the TODO: they say why each step is there (which
    // kernel rule forces it), which is what the learner needs to write it.
    const hints = inner.map((l) => lines[l]!.trim()).filter((t) => t.startsWith('//')).map((t) => `${indent}  ${t}\n`).join('');
    const stub = (why: string): Edit => ({
      start: body.getStart(source),
      end: body.end,
      text: `{\n${superCall ? `${indent}  ${opening.getText(source)}\n` : ''}${hints}${indent}  throw new Error(${quote(`TODO (chapter ${number}): ${why}`)});\n${indent}}`,
    });
    const code = (ls: number[]) => ls.filter((l) => lines[l]!.trim());
    const asSaid = ts.getJSDocCommentsAndTags(fn).length ? ', as the comment above it says' : '';
    if (code(range(declared, last + 1)).every((l) => isNew[l])) {
      edits.push(stub(`write ${name}${asSaid}`));
      continue;
    }
    if (code(inner).length > 0 && code(inner).every((l) => isNew[l])) {
      edits.push(stub(`${name} changes in this chapter: write it again${asSaid}`));
      continue;
    }
    // Only its signature changed (a new parameter, an export): the learner gets the new one.
    const runs = runsOf(inner.filter((l) => isNew[l]));
    const holes = runs.map((run) => holeFor(run, body, source, lines));
    if (holes.some((h) => h === undefined)) {
      edits.push(stub(`${name} changes in this chapter: write it again${asSaid}`));
      continue;
    }
    for (const [i, run] of runs.entries()) {
      const at = lines[run[0]!]!.match(/^\s*/)![0];
      edits.push({ start: lineStarts[run[0]!]!, end: lineStarts[run.at(-1)! + 1] ?? text.length, text: `${at}// TODO (${number}): ${holes[i]}\n` });
    }
  }
  let out = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return out;
}

type FunctionWithBody = ts.FunctionDeclaration | ts.MethodDeclaration | ts.ConstructorDeclaration | ts.AccessorDeclaration;

/** The top-level functions, and the methods of top-level classes, that have a body. */
function functionsOf(source: ts.SourceFile): FunctionWithBody[] {
  const found: FunctionWithBody[] = [];
  for (const statement of source.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.body) found.push(statement);
    if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        if ((ts.isMethodDeclaration(member) || ts.isConstructorDeclaration(member) || ts.isAccessor(member)) && member.body) found.push(member);
      }
    }
  }
  return found;
}

function nameOf(fn: FunctionWithBody, source: ts.SourceFile): string {
  const own = ts.isConstructorDeclaration(fn) ? 'constructor' : (fn.name?.getText(source) ?? 'this function');
  const owner = ts.isClassDeclaration(fn.parent) ? `${fn.parent.name?.getText(source) ?? 'the class'}.` : '';
  return `${owner}${own}()`;
}

/** The numbers from `from` up to `to`, `to` left out. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/** Consecutive line numbers grouped: [3, 4, 7] → [[3, 4], [7]]. */
function runsOf(lineNumbers: number[]): number[][] {
  const runs: number[][] = [];
  for (const l of lineNumbers) {
    const run = runs.at(-1);
    if (run && run.at(-1) === l - 1) run.push(l);
    else runs.push([l]);
  }
  return runs;
}

/** What the TODO line in place of `run` says, or undefined when the lines cannot simply be left
 *  out: they are not whole statements, they declare a name that lines kept after them use, or
 *  they return a value (the function might then end without one). */
function holeFor(run: number[], body: ts.Block, source: ts.SourceFile, lines: string[]): string | undefined {
  const [from, to] = [run[0]!, run.at(-1)!];
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const inside: ts.Statement[] = [];
  let whole = true;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && node !== body.parent) return;
    const list = ts.isBlock(node) || ts.isCaseClause(node) || ts.isDefaultClause(node) ? node.statements : undefined;
    for (const statement of list ?? []) {
      const [a, b] = [lineOf(statement.getStart(source)), lineOf(statement.end)];
      if (a >= from && b <= to) inside.push(statement);
      else if (a <= to && b >= from && !(a < from && b > to)) whole = false; // starts or ends in the run
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  const covered = new Set(inside.flatMap((s) => range(lineOf(s.getStart(source)), lineOf(s.end) + 1)));
  const code = run.filter((l) => !/^\s*(\/\/.*)?$/.test(lines[l]!));
  if (!whole || code.length === 0 || code.some((l) => !covered.has(l))) return undefined;
  const outermost = inside.filter((s) => !inside.some((o) => o !== s && o.pos <= s.pos && s.end <= o.end));
  if (inside.some((s) => ts.isReturnStatement(s) && s.expression)) return undefined; // a path might end with no value
  // A name declared here and used after the run: leaving the lines out would not compile.
  const declaredNames = outermost.flatMap((s) => declaredBy(s, source));
  const after = lines.slice(to + 1, lineOf(body.end) + 1).join('\n');
  if (declaredNames.some((n) => new RegExp(`\\b${n}\\b`).test(after))) return undefined;
  const called = [...new Set(outermost.flatMap((s) => callsIn(s, source)))];
  const what = called.length ? `call ${called.slice(0, 4).join(', ')}${called.length > 4 ? ', …' : ''}` : 'add what this chapter needs';
  return `${what} (${code.length} line${code.length === 1 ? '' : 's'} in the chapter)`;
}

function declaredBy(statement: ts.Statement, source: ts.SourceFile): string[] {
  if (ts.isVariableStatement(statement)) {
    return statement.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : d.name.elements.map((e) => e.getText(source))));
  }
  if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) return [statement.name.text];
  return [];
}

/** The functions a statement calls, as `name()`, in order. */
function callsIn(node: ts.Node, source: ts.SourceFile): string[] {
  const calls: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
      if (name) calls.push(`${name}()`);
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
  return calls;
}

/** A single-quoted string literal. */
function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
