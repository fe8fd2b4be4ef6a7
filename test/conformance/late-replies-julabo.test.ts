import { lateReplyEndurance } from './late-replies-endurance.js';
import { julaboLateReplies } from './late-reply-subjects.js';

lateReplyEndurance('julabo', julaboLateReplies(11));
