/**
 * The file names of a local CA directory (layout in ca.ts). Apart from ca.ts so a
 * process that only checks whether a CA exists (the `--workers` primary) does not
 * load the certificate code.
 */
export const CA_KEY_FILE = 'ca-key.pem';
export const CA_CERT_FILE = 'ca-cert.pem';
export const TRUST_BUNDLE_FILE = 'trust-bundle.pem';
export const CA_CROSS_FILE = 'ca-cross.pem';
