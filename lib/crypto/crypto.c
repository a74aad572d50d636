/* SPDX-License-Identifier: MIT */
/* The algorithm tables, hashes, PBKDF2, random bytes and locked memory of
 * the crypto layer (crypto.h), over libgcrypt.  The sector ciphers are in
 * cipher.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto-gcrypt.h"

struct cipher_desc {
	const char *name;
	int gcry_algo;
	size_t key_len;
	size_t block_len;
	const char *family; /* for ESSIV's message, NULL: no family */
};

static const struct cipher_desc ciphers[QIMG_CIPHER__MAX] = {
	[QIMG_CIPHER_AES_128] = { "aes-128", GCRY_CIPHER_AES128, 16, 16,
				  "AES" },
	[QIMG_CIPHER_AES_192] = { "aes-192", GCRY_CIPHER_AES192, 24, 16,
				  "AES" },
	[QIMG_CIPHER_AES_256] = { "aes-256", GCRY_CIPHER_AES256, 32, 16,
				  "AES" },
	[QIMG_CIPHER_CAST5_128] = { "cast5-128", GCRY_CIPHER_CAST5, 16, 8,
				    NULL },
	[QIMG_CIPHER_SERPENT_128] = { "serpent-128", GCRY_CIPHER_SERPENT128, 16,
				      16, "Serpent" },
	[QIMG_CIPHER_SERPENT_192] = { "serpent-192", GCRY_CIPHER_SERPENT192, 24,
				      16, "Serpent" },
	[QIMG_CIPHER_SERPENT_256] = { "serpent-256", GCRY_CIPHER_SERPENT256, 32,
				      16, "Serpent" },
	[QIMG_CIPHER_TWOFISH_128] = { "twofish-128", GCRY_CIPHER_TWOFISH128, 16,
				      16, "Twofish" },
	/* gcrypt has no 192-bit Twofish: 0 sends it to nettle (cipher.c) */
	[QIMG_CIPHER_TWOFISH_192] = { "twofish-192", 0, 24, 16, "Twofish" },
	[QIMG_CIPHER_TWOFISH_256] = { "twofish-256", GCRY_CIPHER_TWOFISH, 32,
				      16, "Twofish" },
};

static const char *const mode_names[QIMG_MODE__MAX] = {
	[QIMG_MODE_ECB] = "ecb",
	[QIMG_MODE_CBC] = "cbc",
	[QIMG_MODE_XTS] = "xts",
	[QIMG_MODE_CTR] = "ctr",
};

static const char *const ivgen_names[QIMG_IVGEN__MAX] = {
	[QIMG_IVGEN_PLAIN] = "plain",
	[QIMG_IVGEN_PLAIN64] = "plain64",
	[QIMG_IVGEN_ESSIV] = "essiv",
};

struct hash_desc {
	const char *name;
	int gcry_algo;
	size_t len;
};

static const struct hash_desc hashes[QIMG_HASH__MAX] = {
	[QIMG_HASH_MD5] = { "md5", GCRY_MD_MD5, 16 },
	[QIMG_HASH_SHA1] = { "sha1", GCRY_MD_SHA1, 20 },
	[QIMG_HASH_SHA224] = { "sha224", GCRY_MD_SHA224, 28 },
	[QIMG_HASH_SHA256] = { "sha256", GCRY_MD_SHA256, 32 },
	[QIMG_HASH_SHA384] = { "sha384", GCRY_MD_SHA384, 48 },
	[QIMG_HASH_SHA512] = { "sha512", GCRY_MD_SHA512, 64 },
	[QIMG_HASH_RIPEMD160] = { "ripemd160", GCRY_MD_RMD160, 20 },
};

/* libgcrypt wants one initialisation per process before any use. */
static pthread_once_t gcry_once = PTHREAD_ONCE_INIT;

static void gcry_init_once(void)
{
	if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P))
		return; /* another library of the process did it */
	gcry_check_version(NULL);
	/* Cipher contexts hold expanded keys: keep them in gcrypt's locked
	 * pool, which grows as needed; where locking is not allowed gcrypt
	 * falls back to ordinary memory, quietly. */
	gcry_control(GCRYCTL_SUSPEND_SECMEM_WARN);
	gcry_control(GCRYCTL_INIT_SECMEM, 65536, 0);
	gcry_control(GCRYCTL_AUTO_EXPAND_SECMEM, 1 << 20);
	gcry_control(GCRYCTL_RESUME_SECMEM_WARN);
	gcry_control(GCRYCTL_DISABLE_SECMEM_WARN);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

void qimg_crypto_init(void)
{
	pthread_once(&gcry_once, gcry_init_once);
}

int qimg_crypto_gcry_error(struct qimg_error *err, gcry_error_t e,
			   const char *what)
{
	return qimg_error_set(err, EIO, "%s failed: %s", what,
			      gcry_strerror(e));
}

int qimg_cipher_gcry_algo(enum qimg_cipher_alg a)
{
	return ciphers[a].gcry_algo;
}

const char *qimg_cipher_alg_name(enum qimg_cipher_alg a)
{
	return (unsigned)a < QIMG_CIPHER__MAX ? ciphers[a].name : NULL;
}

const char *qimg_cipher_mode_name(enum qimg_cipher_mode m)
{
	return (unsigned)m < QIMG_MODE__MAX ? mode_names[m] : NULL;
}

const char *qimg_ivgen_alg_name(enum qimg_ivgen_alg g)
{
	return (unsigned)g < QIMG_IVGEN__MAX ? ivgen_names[g] : NULL;
}

const char *qimg_hash_alg_name(enum qimg_hash_alg h)
{
	return (unsigned)h < QIMG_HASH__MAX ? hashes[h].name : NULL;
}

int qimg_cipher_alg_from_name(const char *name)
{
	for (int i = 0; name && i < QIMG_CIPHER__MAX; i++)
		if (!strcmp(name, ciphers[i].name))
			return i;
	return -1;
}

int qimg_cipher_mode_from_name(const char *name)
{
	for (int i = 0; name && i < QIMG_MODE__MAX; i++)
		if (!strcmp(name, mode_names[i]))
			return i;
	return -1;
}

int qimg_ivgen_alg_from_name(const char *name)
{
	for (int i = 0; name && i < QIMG_IVGEN__MAX; i++)
		if (!strcmp(name, ivgen_names[i]))
			return i;
	return -1;
}

int qimg_hash_alg_from_name(const char *name)
{
	for (int i = 0; name && i < QIMG_HASH__MAX; i++)
		if (!strcmp(name, hashes[i].name))
			return i;
	return -1;
}

size_t qimg_cipher_key_len(enum qimg_cipher_alg a)
{
	return ciphers[a].key_len;
}

size_t qimg_cipher_block_len(enum qimg_cipher_alg a)
{
	return ciphers[a].block_len;
}

size_t qimg_cipher_mode_key_len(enum qimg_cipher_alg a, enum qimg_cipher_mode m)
{
	return ciphers[a].key_len * (m == QIMG_MODE_XTS ? 2 : 1);
}

size_t qimg_hash_len(enum qimg_hash_alg h)
{
	return hashes[h].len;
}

bool qimg_cipher_supported(enum qimg_cipher_alg a, enum qimg_cipher_mode m)
{
	if ((unsigned)a >= QIMG_CIPHER__MAX || (unsigned)m >= QIMG_MODE__MAX)
		return false;
	return m != QIMG_MODE_XTS || ciphers[a].block_len == 16;
}

int qimg_essiv_cipher(enum qimg_cipher_alg a, enum qimg_hash_alg h,
		      enum qimg_cipher_alg *out, struct qimg_error *err)
{
	size_t dlen = hashes[h].len;

	if (!ciphers[a].family) {
		if (ciphers[a].key_len != dlen)
			return qimg_error_set(err, EINVAL,
					      "Cipher %s not supported with "
					      "essiv",
					      ciphers[a].name);
		*out = a;
		return 0;
	}
	for (int i = 0; i < QIMG_CIPHER__MAX; i++) {
		if (ciphers[i].family &&
		    !strcmp(ciphers[i].family, ciphers[a].family) &&
		    ciphers[i].key_len == dlen) {
			*out = i;
			return 0;
		}
	}
	return qimg_error_set(err, EINVAL,
			      "No %s cipher with key size %zu available",
			      ciphers[a].family, dlen);
}

int qimg_hash_pieces(enum qimg_hash_alg h, size_t n, const void *const *ptr,
		     const size_t *len, uint8_t *out, struct qimg_error *err)
{
	gcry_buffer_t iov[8];
	gcry_error_t e;

	qimg_crypto_init();
	if (n > sizeof(iov) / sizeof(iov[0]))
		return qimg_error_set(err, EINVAL, "Too many pieces to hash");
	memset(iov, 0, sizeof(iov));
	for (size_t i = 0; i < n; i++) {
		iov[i].size = len[i];
		iov[i].len = len[i];
		iov[i].data = (void *)ptr[i];
	}
	e = gcry_md_hash_buffers(hashes[h].gcry_algo, 0, out, iov, (int)n);
	if (e)
		return qimg_crypto_gcry_error(err, e, "Hash");
	return 0;
}

int qimg_hash(enum qimg_hash_alg h, const void *data, size_t len, uint8_t *out,
	      struct qimg_error *err)
{
	return qimg_hash_pieces(h, 1, &data, &len, out, err);
}

int qimg_pbkdf2(enum qimg_hash_alg h, const uint8_t *pass, size_t passlen,
		const uint8_t *salt, size_t saltlen, uint64_t iters,
		uint8_t *out, size_t outlen, struct qimg_error *err)
{
	gcry_error_t e;
	/* gcrypt refuses an empty passphrase; HMAC pads any key shorter
	 * than a block with zeros, so one zero byte derives the same key. */
	static const uint8_t zero = 0;

	qimg_crypto_init();
	if (iters == 0 || iters > ULONG_MAX)
		return qimg_error_set(err, EINVAL,
				      "Invalid PBKDF2 iteration count %" PRIu64,
				      iters);
	e = gcry_kdf_derive(passlen ? pass : &zero, passlen ? passlen : 1,
			    GCRY_KDF_PBKDF2, hashes[h].gcry_algo, salt, saltlen,
			    (unsigned long)iters, outlen, out);
	if (e)
		return qimg_crypto_gcry_error(err, e, "PBKDF2");
	return 0;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The measuring run's CPU time.  qemu-img measures half a second on
 * every LUKS create and key-slot change; a tenth of one gives the same
 * rate within a few percent (the thread's CPU clock counts nanoseconds)
 * and makes those commands 0.4 s faster. */
#define CALIBRATE_NS 100000000u

int qimg_pbkdf2_count_iters(enum qimg_hash_alg h, size_t passlen,
			    size_t saltlen, size_t outlen, uint64_t *per_sec,
			    struct qimg_error *err)
{
	uint8_t pass[256], salt[256], out[256];
	uint64_t iters = 1u << 14;
	int r;

	if (passlen > sizeof(pass) || saltlen > sizeof(salt) ||
	    outlen > sizeof(out))
		return qimg_error_set(err, EINVAL,
				      "PBKDF2 lengths too large to measure");
	memset(pass, 'x', sizeof(pass));
	memset(salt, 's', sizeof(salt));
	for (;;) {
		uint64_t t0 = thread_cpu_ns(), ns;

		r = qimg_pbkdf2(h, pass, passlen, salt, saltlen, iters, out,
				outlen, err);
		if (r < 0)
			return r;
		ns = thread_cpu_ns() - t0;
		if (ns >= CALIBRATE_NS || iters >= (1ull << 32)) {
			if (ns == 0)
				ns = 1;
			*per_sec = (uint64_t)((double)iters * 1e9 / (double)ns);
			if (*per_sec == 0)
				*per_sec = 1;
			break;
		}
		/* Aim a little past the window; at least double. */
		if (ns < 1000000u)
			iters *= 16;
		else if ((double)iters * 1.2 * CALIBRATE_NS / (double)ns >
			 2.0 * iters)
			iters = (uint64_t)((double)iters * 1.2 * CALIBRATE_NS /
					   (double)ns);
		else
			iters *= 2;
		if (iters > (1ull << 32))
			iters = 1ull << 32;
	}
	explicit_bzero(out, sizeof(out));
	return 0;
}

int qimg_random_bytes(void *buf, size_t len, struct qimg_error *err)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return qimg_error_set_errno(err, errno,
						    "Unable to read random "
						    "bytes");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t page_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

void *qimg_secure_alloc(size_t len)
{
	size_t n = page_round(len ? len : 1);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)mlock(p, n); /* best effort: RLIMIT_MEMLOCK may forbid it */
	(void)madvise(p, n, MADV_DONTDUMP);
	return p;
}

void qimg_secure_free(void *p, size_t len)
{
	size_t n;

	if (!p)
		return;
	n = page_round(len ? len : 1);
	explicit_bzero(p, n);
	(void)munlock(p, n);
	munmap(p, n);
}
