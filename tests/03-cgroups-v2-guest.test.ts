/** Chapters 03–05 · their cgroup tests again, in a guest whose kernel mounts cgroup v2 only
 *  (tests/helpers/guest.ts). */
import { testCgroupsInGuest } from './helpers/guest.ts';

testCgroupsInGuest('03', '05');
