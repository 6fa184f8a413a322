/** The lesson runner (tests/helpers/lesson.ts): its parser and matcher, then the runner itself on
 *  small lessons of plain shell commands (no chapter runs here). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers/chapter.ts';
import { normaliseLine, outputMatches, parseLesson, runLesson } from './helpers/lesson.ts';

const matches = (expected: string, actual: string) => outputMatches(expected.split('\n'), actual.split('\n'));

test('lesson matcher: the same output matches', () => {
  assert.ok(matches('bin\ndev\netc', 'bin\ndev\netc'));
});

test('lesson matcher: a changed word fails', () => {
  assert.ok(!matches('nutshell: command not found in the rootfs: bash', 'nutshell: command not found in the rootfs: dash'));
  assert.ok(!matches('got TERM\nexit=7', 'got KILL\nexit=7'));
  assert.ok(!matches('contained: "/" is still the container\'s root', 'ESCAPED: "/" is still the container\'s root'));
});

test('lesson matcher: a missing or extra line fails', () => {
  assert.ok(!matches('bin\ndev', 'bin'));
  assert.ok(!matches('bin', 'bin\ndev'));
});

test('lesson matcher: numbers, ids, digests, times, sizes and ports are placeholders', () => {
  const same: [string, string][] = [
    ['[engine 28849] write …/cgroup.procs = 28887', '[engine 3] write …/cgroup.procs = 41'],
    ['[engine 1] mkdir /sys/fs/cgroup/memory/nutshell/efe5d2ef96c2', '[engine 1] mkdir /sys/fs/cgroup/memory/nutshell/55e854c97453'],
    ['.501', '.498'],
    ['busy\t2.05 s\t512 KiB\t-\t1\tno', 'busy\t13.9 s\t2.3 MiB\t-\t1\tno'],
    ['peak memory 32m', 'peak memory 1.5g'],
    ['real\t0m 1.15s', 'real\t0m 2.32s'],
    ['real 0m6.294s', 'real 0m16.004s'],
    ['created 2026-11-30T09:20:37.586Z', 'created 2027-01-02T19:01:02Z'],
    ['Nov 30 09:20 file', 'Dec  1 10:21 file'],
    ['Up 10 seconds ago', 'Up About a minute ago'],
    ['sha256:' + 'a'.repeat(64), 'sha256:' + '0123456789abcdef'.repeat(4)],
    ['127.0.0.1:45733', '127.0.0.1:5001'],
    ['pid:[4026532177]', 'pid:[4026531836]'],
    ['hostname is "dc6eeba7cad9"', 'hostname is "527675625164"'],
  ];
  for (const [expected, actual] of same) assert.ok(matches(expected, actual), `${expected} ~ ${actual}`);
  assert.equal(normaliseLine('[init 1] a   b\t c  '), '[init <n>] a b c');
  assert.equal(normaliseLine('sha256 on x86_64, cgroup2'), 'sha256 on x86_64, cgroup2');
});

test('lesson matcher: a line of "…" matches any number of lines, "…" in a line any text', () => {
  assert.ok(matches('first\n…\nlast', 'first\nlast'));
  assert.ok(matches('first\n…\nlast', 'first\na\nb\nc\nlast'));
  assert.ok(matches('…', ''));
  assert.ok(matches('  …  ', 'anything\nat all'));
  assert.ok(!matches('first\n…\nlast', 'first\na\nb'));
  assert.ok(matches('/ lists .dockerenv bin … usr var work', '/ lists .dockerenv bin boot dev etc usr var work'));
  assert.ok(matches('digest sha256:…', 'digest sha256:' + 'f'.repeat(64)));
  assert.ok(!matches('/ lists bin … var', '/ lists sbin dev var'));
  assert.ok(!matches('x … y', 'x z w'));
});

test('lesson parser: commands, continuation lines, here-documents, directives', () => {
  const lesson = [
    '# Title',
    '```console',
    '# echo one \\',
    '  two',
    'one two',
    '# cat <<\'EOF\'',
    '# not a command',
    'EOF',
    'printed',
    '# true',
    '```',
    '<!-- lesson: terminal 2 -->',
    '<!-- lesson: timeout 120 -->',
    '```console',
    '# sleep 1 &',
    '```',
    '```text',
    '# never run',
    '```',
  ].join('\n');
  const blocks = parseLesson(lesson);
  assert.equal(blocks.length, 2);
  assert.deepEqual(
    blocks[0]!.commands.map((c) => [c.line, c.text, c.expected]),
    [
      [3, 'echo one \\\n  two', ['one two']],
      [6, "cat <<'EOF'\n# not a command\nEOF", ['printed']],
      [10, 'true', []],
    ],
  );
  assert.equal(blocks[0]!.terminal, 1);
  assert.equal(blocks[0]!.timeoutSeconds, 60);
  assert.equal(blocks[1]!.terminal, 2);
  assert.equal(blocks[1]!.timeoutSeconds, 120);
  assert.throws(() => parseLesson('<!-- lesson: skip -->\n```console\n# true\n```'), /unknown lesson directive/);
  assert.equal(parseLesson('<!-- lesson: vm -->\n```console\n# true\n```')[0]!.vm, true);
  assert.equal(blocks[0]!.vm, false);
  assert.throws(() => parseLesson('<!-- lesson: vm -->\n```console\n# sleep 1 &\n```'), /lesson:3: a command in the background in a vm block/);
});

// ---------------------------------------------------------------- the runner, on small lessons of plain shell commands

/** A lesson file in a temp dir, made of the given lines. */
function lessonFile(lines: string[]): string {
  const file = join(tempDir('nutshell-lesson-test-'), 'lesson.md');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

test('lesson runner: sessions keep variables, $? and background jobs; terminal 2 is a second session; the temp prefix is replaced', async () => {
  const file = lessonFile([
    '```console',
    '# X=kept; false',
    '# [ $? = 1 ] && echo "$X, status one"',
    'kept, status one',
    '# mkdir /tmp/nutshell-doc-dir && cd /tmp/nutshell-doc-dir && pwd',
    '/tmp/nutshell-doc-dir',
    '# (sleep 1; echo late) &',
    'late',
    '```',
    '<!-- lesson: terminal 2 -->',
    '```console',
    '# echo "[$X]"',
    '[]',
    '```',
    '```console',
    '# wait; echo "$X"',
    'kept',
    '```',
  ]);
  const result = await runLesson(file);
  assert.equal(result.commands, 6);
});

test('lesson runner: a vm block runs in the cgroup2 guest, in one bash: variables and $? carry over, the temp prefix is replaced', async () => {
  const file = lessonFile([
    '```console',
    '# X=host; echo host',
    'host',
    '```',
    '<!-- lesson: vm -->',
    '```console',
    '# stat -fc %T /sys/fs/cgroup; echo "[$X]"; Y=guest; false',
    'cgroup2fs',
    '[]',
    '# echo "$Y, status $?"; mkdir /tmp/nutshell-doc-dir && cd /tmp/nutshell-doc-dir && pwd',
    'guest, status 1',
    '/tmp/nutshell-doc-dir',
    '```',
  ]);
  assert.equal((await runLesson(file)).commands, 3);
  const wrong = lessonFile(['<!-- lesson: vm -->', '```console', '# echo one', 'one', '# echo two', 'three', '```']);
  await assert.rejects(runLesson(wrong), /lesson\.md:5: the output differs[\s\S]*# echo two[\s\S]*three[\s\S]*two/);
  // A command that ends the script ends the guest: the next command says so, with what it printed.
  const ended = lessonFile(['<!-- lesson: vm -->', '```console', '# echo bye; exit 3', 'bye', '# echo never', 'never', '```']);
  await assert.rejects(runLesson(ended), /lesson\.md:3: the output differs[\s\S]*the guest stopped before this command ended \(exit 3\)/);
});

test('lesson runner: a changed word fails, naming the line and the command', async () => {
  const file = lessonFile(['```console', '# echo one two', 'one three', '```']);
  await assert.rejects(runLesson(file), /lesson\.md:2: the output differs[\s\S]*# echo one two[\s\S]*one three[\s\S]*one two/);
});

test('lesson runner: a process left running with its root in the temp dir fails the lesson, and is killed', async () => {
  const file = lessonFile([
    '```console',
    '# mkdir -p /tmp/nutshell-doc-box && cp /bin/busybox /tmp/nutshell-doc-box/',
    '# setsid chroot /tmp/nutshell-doc-box /busybox sleep 1000 >/dev/null 2>&1 &',
    '# sleep 1',
    '```',
  ]);
  await assert.rejects(runLesson(file), /left behind \(now removed\):\n {2}process \d+/);
});
