/** Chapters 06–08 · their cgroup tests again, in a guest whose kernel mounts cgroup v2 only
 *  (tests/helpers/guest.ts). */
import { testCgroupsInGuest } from './helpers/guest.ts';

testCgroupsInGuest('06', '08');
