import { lateReplyEndurance } from './late-replies-endurance.js';
import { cryoconLateReplies } from './late-reply-subjects.js';

lateReplyEndurance('cryocon', cryoconLateReplies(12));
