/**
 * Trainer mode's names on the wire (docs/trainer.md) and the weights message.
 *
 * @module
 */

/** Mode name sent in the handshake. */
export const TRAINER_MODE = 'trainer';
/** Wire method of `trainStep`; the request's `n` is the table name. */
export const M_TRAIN = 'train';
/** Wire method of custom requests; the request's `n` is the request type. */
export const M_REQUEST = 'request';
/** Topic the weights are published under. */
export const WEIGHTS_TOPIC = 'weights';

/** What travels under {@link WEIGHTS_TOPIC}: the weights and their version (1 for the first weights published). */
export interface WeightsMessage<W = unknown> {
  version: number;
  weights: W;
}
