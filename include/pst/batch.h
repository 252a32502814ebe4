/* batch.h — one micro-batch of B sequences of T tokens, as the model consumes it.
 * Token n of the batch is (b, t) = (n / T, n % T). Arrays not used by the task are NULL.
 * The arrays hold B x T_cap tokens; a batch padded to its longest example uses T <= T_cap
 * of them, packed ([B*T], not strided by T_cap). */
#ifndef PST_BATCH_H
#define PST_BATCH_H

#include <stdint.h>

typedef struct {
  int B, T;
  int T_cap;                /* tokens per sequence the arrays were allocated for */
  int32_t *input_ids;       /* [B*T] token ids (< vocab) */
  int32_t *token_type_ids;  /* [B*T] (bert) or NULL = all 0 */
  uint8_t *attn_mask;       /* [B*T] 1 = real token, 0 = padding */
  int32_t *labels;          /* [B] class ids (classify) */
  float *labels_f;          /* [B] targets (regress) */
  int32_t *targets;         /* [B*T] next-token ids (lm) */
  float *loss_mask;         /* [B*T] token loss weights (lm) */
} pst_batch;

#endif
