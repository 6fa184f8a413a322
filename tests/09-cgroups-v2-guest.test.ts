/** Chapters 09 on · their cgroup tests again, in a guest whose kernel mounts cgroup v2 only
 *  (tests/helpers/guest.ts). A new chapter past 10 may need a file of its own here: each file
 *  must stay well under the 20 minutes a test file may take. */
import { testCgroupsInGuest } from './helpers/guest.ts';

testCgroupsInGuest('09');
