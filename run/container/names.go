package container

import (
	"crypto/rand"
	"math/big"
)

// A few of docker's namesgenerator words: generated names look like docker's.
var (
	adjectives = []string{"admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold",
		"brave", "busy", "charming", "clever", "compassionate", "confident", "cool", "cranky", "dazzling",
		"determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant",
		"epic", "festive", "focused", "friendly", "funny", "gallant", "gifted", "goofy", "gracious",
		"happy", "hopeful", "hungry", "infallible", "inspiring", "jolly", "keen", "kind", "laughing",
		"loving", "lucid", "magical", "modest", "musing", "mystifying", "nice", "nifty", "nostalgic",
		"objective", "optimistic", "peaceful", "pensive", "practical", "priceless", "quirky", "quizzical",
		"relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
		"suspicious", "sweet", "tender", "thirsty", "trusting", "upbeat", "vibrant", "vigilant",
		"wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen"}
	surnames = []string{"albattani", "allen", "archimedes", "babbage", "bardeen", "bell", "bhabha",
		"bohr", "booth", "brahmagupta", "cannon", "carson", "cerf", "chandrasekhar", "curie", "darwin",
		"dijkstra", "einstein", "elion", "euclid", "euler", "faraday", "fermat", "feynman", "franklin",
		"galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hertz",
		"hodgkin", "hopper", "hypatia", "jackson", "johnson", "kalam", "kepler", "knuth", "lalande",
		"lamport", "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "meitner", "mendel", "morse",
		"napier", "newton", "nobel", "noether", "pare", "pascal", "pasteur", "perlman", "pike",
		"poincare", "ritchie", "rosalind", "sammet", "shannon", "shockley", "sinoussi", "stonebraker",
		"swartz", "tesla", "thompson", "torvalds", "turing", "varahamihira", "volhard", "wescoff",
		"wiles", "williams", "wilson", "wozniak", "wright", "yalow", "yonath"}
)

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		return words[0]
	}
	return words[n.Int64()]
}

// generateName returns a free adjective_surname name (with a digit suffix
// after a few collisions, as docker).
func (r *Runtime) generateName() string {
	for i := 0; ; i++ {
		name := pick(adjectives) + "_" + pick(surnames)
		if i >= 10 {
			n, _ := rand.Int(rand.Reader, big.NewInt(10))
			name += n.String()
		}
		if _, taken := r.nameTaken(name, ""); !taken {
			return name
		}
	}
}
