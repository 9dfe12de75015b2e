//! The larger personalisation set: for each user of `personalisation_data.rs`, questions of two
//! kinds the first set has none of, asked after its probes in the same store.
//!
//! - **Look it up**: 16 more memories per user on two topics (8 each: Emma's school and Maria's
//!   colleagues, Kenji's records and his club, ...), stored after the first set's probes ran, and
//!   6 questions that each need one of them. The topic's seven other memories share its words, so
//!   the one needed is meant to fall outside the five the context takes by similarity; whether it
//!   does is measured (`searchMemories` rank), not assumed.
//! - **Multi-turn**: a conversation of a few messages, then the question. Either the needed fact
//!   was said earlier in the same conversation (and is nowhere in the store), or the question
//!   builds on the previous turn ("Tell me about my brother." — "Which city does he live in?")
//!   and needs a stored memory the question alone does not name.
//!
//! Written before the first run on them and not changed after; nothing in the product was tuned
//! on them.

#![allow(dead_code)]

use crate::personalisation_data::QuestionKind::{self, Earlier, FollowUp, LookUp, LookUpCrowded, LookUpHarder};

/// A question asked after `before` was said in the same conversation.
pub struct Dialogue {
    pub before: &'static [&'static str],
    pub question: &'static str,
    pub kind: QuestionKind,
    /// What the request to Claude must carry (the exact text of a memory, or of what the user said
    /// earlier in the conversation).
    pub needs: &'static str,
}

pub struct More {
    /// Memories the user stated (`remember`, FACT), on two crowded topics.
    pub crowd: &'static [&'static str],
    /// Single questions in fresh conversations, each needing one memory of `crowd`.
    pub lookups: &'static [Dialogue],
    /// A second batch of them, written after the first run put 22 of the first 24 memories in
    /// the top five: each names its topic in words many memories of it share and its fact only
    /// in other words. Written before it ran, like the rest.
    pub harder: &'static [Dialogue],
    pub dialogues: &'static [Dialogue],
}

const fn ask(question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before: &[], question, kind: LookUp, needs }
}

const fn harder(question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before: &[], question, kind: LookUpHarder, needs }
}

const fn earlier(before: &'static [&'static str], question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before, question, kind: Earlier, needs }
}

const fn follow_up(before: &'static [&'static str], question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before, question, kind: FollowUp, needs }
}

/// In the order of `PERSONAS`.
pub const MORE: &[More] = &[
    // Maria
    More {
        crowd: &[
            "Emma's class teacher at school is Frau Weber",
            "Emma's school starts at 8:10 and she has to be there by eight",
            "Emma's school trip to the Hagenbeck zoo is on 14 May",
            "Emma needs a pirate costume for the school play in June",
            "Emma's best friend at school is Lina, whose mum is called Birgit",
            "Emma is allowed to walk to school alone from next year",
            "Emma's school asked for 20 euros for the class fund",
            "Emma gets tired on school days when she has swimming after class",
            "My colleague Jana on ward 4 is expecting twins in March",
            "Dr. Brandt prefers handover notes by email, not on paper",
            "My colleague Felix swaps night shifts with me when Emma is ill",
            "The head nurse, Frau Okafor, retires at the end of the year",
            "My colleague Ben is training for the Hamburg marathon",
            "Clara, a nurse on ward 6, lends me her car when mine is in the garage",
            "My colleague Mehmet brings baklava on the last night shift of the month",
            "Dr. Schulz is my mentor for the advanced practice course",
        ],
        lookups: &[
            ask(
                "What did I tell you Emma has to wear for the school play?",
                "Emma needs a pirate costume for the school play in June",
            ),
            ask("What's the name of Emma's teacher again?", "Emma's class teacher at school is Frau Weber"),
            ask(
                "How much money did the school want for the class?",
                "Emma's school asked for 20 euros for the class fund",
            ),
            ask(
                "Who did I say covers my nights when my daughter is sick?",
                "My colleague Felix swaps night shifts with me when Emma is ill",
            ),
            ask("Which of my coworkers is expecting?", "My colleague Jana on ward 4 is expecting twins in March"),
            ask(
                "Who can I ask to borrow wheels if the Golf breaks down?",
                "Clara, a nurse on ward 6, lends me her car when mine is in the garage",
            ),
        ],
        harder: &[
            harder(
                "What did I tell you about the thing Emma's class is doing at the animal park?",
                "Emma's school trip to the Hagenbeck zoo is on 14 May",
            ),
            harder(
                "Which of the people I work with is running a long race?",
                "My colleague Ben is training for the Hamburg marathon",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "I'm meeting my old school friend Hanna at the Fischmarkt on Sunday at seven.",
                    "How long should I boil an egg for a soft yolk?",
                ],
                "Where did I say I'm meeting Hanna?",
                "I'm meeting my old school friend Hanna at the Fischmarkt on Sunday at seven.",
            ),
            earlier(
                &[
                    "My parking permit number is HH-2291, I'll need it later.",
                    "What's a good name for a sourdough starter?",
                    "Ha, another one?",
                ],
                "What was my permit number?",
                "My parking permit number is HH-2291",
            ),
            follow_up(
                &["Tell me about my brother."],
                "Which city does he live in?",
                "My brother Lukas is a carpenter in Munich",
            ),
            follow_up(
                &["What does my partner do for a living?"],
                "Where is he from originally?",
                "I'm learning Portuguese because my partner Tiago is from Porto",
            ),
            follow_up(
                &["What kind of dog do I have?"],
                "And what's its name?",
                "I have a rescue greyhound called Pepper",
            ),
            follow_up(
                &["Which instrument do I play?"],
                "On which evening is that?",
                "I play the clarinet in a community orchestra on Tuesday evenings",
            ),
        ],
    },
    // Kenji
    More {
        crowd: &[
            "I paid 30,000 yen for a first pressing of Herbie Hancock's Head Hunters",
            "My turntable is a Technics SL-1200 I bought used in 2015",
            "My favourite record shop is Time Bomb in Shinsaibashi",
            "I lent my Weather Report albums to Takeshi",
            "I keep my records in a cabinet my father built",
            "I'm hunting for an original copy of Casiopea's first album",
            "I sold my duplicate Return to Forever LPs at the Umeda record fair",
            "My Sunday morning record is Pat Metheny's Bright Size Life",
            "The table tennis club has 14 members this year",
            "Club practice is on Monday and Thursday after school in the gym",
            "Mei, the club's best player, reached the prefecture quarter-finals",
            "The club's new tables arrive in April",
            "I want the club to enter the Kansai school league in autumn",
            "A parent, Mr. Sato, drives the team to away matches",
            "The club's budget pays for balls, not for rubbers",
            "Two first-years in the club, Daiki and Sora, argue a lot",
        ],
        lookups: &[
            ask(
                "What did I pay for that Herbie Hancock record?",
                "I paid 30,000 yen for a first pressing of Herbie Hancock's Head Hunters",
            ),
            ask("Who has my Weather Report albums?", "I lent my Weather Report albums to Takeshi"),
            ask("Which album am I still trying to find?", "I'm hunting for an original copy of Casiopea's first album"),
            ask("How many kids are in my club this year?", "The table tennis club has 14 members this year"),
            ask("Who drives the team to away games?", "A parent, Mr. Sato, drives the team to away matches"),
            ask("When do the new tables come?", "The club's new tables arrive in April"),
        ],
        harder: &[
            harder(
                "What did I tell you about where the club's money goes?",
                "The club's budget pays for balls, not for rubbers",
            ),
            harder(
                "What did I say about the furniture for my vinyl?",
                "I keep my records in a cabinet my father built",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "My colleague Nakamura's retirement dinner is at the Hotel Nikko on the 28th.",
                    "Explain the difference between ionic and covalent bonds in one sentence.",
                ],
                "Which hotel did I mention for the dinner?",
                "My colleague Nakamura's retirement dinner is at the Hotel Nikko on the 28th.",
            ),
            earlier(
                &[
                    "The wifi password at the school lab is kagaku-2024.",
                    "Give me a fun fact about copper.",
                    "Another one please.",
                ],
                "What did I say the lab wifi password was?",
                "The wifi password at the school lab is kagaku-2024",
            ),
            follow_up(
                &["Tell me about my son."],
                "What is he studying?",
                "Our son Haruto is studying mechanical engineering in Nagoya",
            ),
            follow_up(
                &["What does my dad do?"],
                "In which town is it?",
                "My father runs a soba restaurant in Matsumoto",
            ),
            follow_up(
                &["How do I get to school every day?"],
                "How far is that each way?",
                "I ride a road bike to school every day, about 9 km each way",
            ),
            follow_up(&["What's my dog's breed?"], "And what's its name?", "I have a shiba inu named Kinako"),
        ],
    },
    // Priya
    More {
        crowd: &[
            "Our wedding photographer is Jess from Kirkstall",
            "We want a vegetarian wedding menu with a South Indian course",
            "My cousin Ravi will DJ at the wedding",
            "The wedding guest list is at 94 people",
            "Sam's mum is making the wedding cake",
            "The wedding ceremony is booked at Leeds Civic Hall",
            "I want to wear my grandmother's gold bangles at the wedding",
            "For the honeymoon after the wedding we're cycling in Puglia",
            "The loft renovation budget is £28,000",
            "The loft will have two Velux windows facing north",
            "Gary the builder starts on the loft in March",
            "I want a timber ladder-stair into the loft, not a full staircase",
            "The loft floor needs extra insulation because of the neighbours' noise",
            "Building control inspected the loft joists on 2 February",
            "The loft studio gets a long desk along the eaves",
            "The loft's old water tank has to be removed first",
        ],
        lookups: &[
            ask("Who's taking the photos at our wedding?", "Our wedding photographer is Jess from Kirkstall"),
            ask("How many people are we inviting?", "The wedding guest list is at 94 people"),
            ask("Who is baking our cake?", "Sam's mum is making the wedding cake"),
            ask("How much did I say we can spend on the loft?", "The loft renovation budget is £28,000"),
            ask("When does the builder start upstairs?", "Gary the builder starts on the loft in March"),
            ask(
                "What has to come out of the loft before work begins?",
                "The loft's old water tank has to be removed first",
            ),
        ],
        harder: &[
            harder("What did I tell you about the music at the wedding?", "My cousin Ravi will DJ at the wedding"),
            harder(
                "What did I say about light coming into the new room upstairs?",
                "The loft will have two Velux windows facing north",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "My friend Ella's baby shower is on 9 March at her flat in Chapel Allerton.",
                    "What's a quick lunch I can make with chickpeas?",
                ],
                "When did I say the baby shower is?",
                "My friend Ella's baby shower is on 9 March at her flat in Chapel Allerton.",
            ),
            earlier(
                &["The gate code for the Otley site is 7320.", "How do I convert millimetres to inches?", "Thanks."],
                "What's the code for the site gate?",
                "The gate code for the Otley site is 7320",
            ),
            follow_up(
                &["What does my sister do?"],
                "Which city is she in?",
                "My sister Anjali is a journalist at a newspaper in Delhi",
            ),
            follow_up(
                &["What are my pets called?"],
                "What kind of animals are they?",
                "I have two cats, Biscuit and Moth",
            ),
            follow_up(
                &["What sport am I training for?"],
                "When is it?",
                "I'm training for my first triathlon in August",
            ),
            follow_up(&["Where did I study?"], "And what subject?", "I studied architecture in Glasgow"),
        ],
    },
    // Tomás
    More {
        crowd: &[
            "My boat is a 16-foot clinker-built punt called the Bríd",
            "I keep the boat on a mooring below the Spaniard pub",
            "The boat's life jackets were last serviced in April",
            "I bought a new outboard for the boat, a 6 hp Yamaha, two years ago",
            "My neighbour's lad Cian helps me haul the boat out in October",
            "The boat's licence renewal is due in May",
            "I paint the boat's hull every spring with antifouling",
            "The best mackerel spot for the boat is off the Old Head at slack tide",
            "My GP is Dr. O'Sullivan at the Kinsale health centre",
            "The pacemaker clinic checks the battery every six months",
            "I take warfarin and need a blood test every month",
            "The chiropodist comes to the house on the first Tuesday of the month",
            "My hearing aid batteries are size 312",
            "The pharmacy on Main Street delivers my tablets on Thursdays",
            "My eye test is due in the spring",
            "The physio gave me exercises for the hip to do every morning",
        ],
        lookups: &[
            ask("Where do I keep the boat tied up?", "I keep the boat on a mooring below the Spaniard pub"),
            ask("When were the life jackets last checked?", "The boat's life jackets were last serviced in April"),
            ask(
                "Who gives me a hand taking the boat out of the water?",
                "My neighbour's lad Cian helps me haul the boat out in October",
            ),
            ask("What size batteries does my hearing aid take?", "My hearing aid batteries are size 312"),
            ask(
                "When does the foot doctor come?",
                "The chiropodist comes to the house on the first Tuesday of the month",
            ),
            ask("How often do I need the blood test?", "I take warfarin and need a blood test every month"),
        ],
        harder: &[
            harder("What did I tell you about the paperwork for the boat?", "The boat's licence renewal is due in May"),
            harder(
                "What did I say about who looks after my prescriptions?",
                "The pharmacy on Main Street delivers my tablets on Thursdays",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "The grandkids are arriving on the 2 o'clock bus from Cork on Saturday.",
                    "How do I make a proper brown bread?",
                ],
                "What time did I say the grandkids get in?",
                "The grandkids are arriving on the 2 o'clock bus from Cork on Saturday.",
            ),
            earlier(
                &[
                    "The man fixing the roof is called Donal and his number is 087 555 1234.",
                    "What's the weather usually like in Kinsale in March?",
                    "Grand, thanks.",
                ],
                "What was the roofer's number?",
                "The man fixing the roof is called Donal and his number is 087 555 1234",
            ),
            follow_up(&["What does my son do?"], "Which city is he in?", "My son Declan is a firefighter in Boston"),
            follow_up(
                &["What is my granddaughter studying?"],
                "Where is she studying it?",
                "My granddaughter Aoife is studying medicine in Galway",
            ),
            follow_up(
                &["What do I sing in?"],
                "Do I do any other music besides that?",
                "I play the tin whistle at sessions in the local pub on Fridays",
            ),
            follow_up(
                &["What happened to my hip?"],
                "What do I use to get around since then?",
                "I walk with a cane after a hip replacement",
            ),
        ],
    },
];

const fn crowded(question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before: &[], question, kind: LookUpCrowded, needs }
}

/// The third batch of look-it-up questions, written (2026-12-02) after the first two left only 3
/// of 32 needed memories outside the top five: a topic of twenty memories per user, each naming
/// the topic (`crowd`), and three questions (`lookups`) that name the topic in words many of them
/// share and the fact only in other words. Written before it first ran and not changed after.
/// In the order of `PERSONAS`; asked after `MORE`.
pub const CROWDED: &[More] = &[
    // Maria: Pepper, her greyhound.
    More {
        crowd: &[
            "Pepper's vet is Dr. Hansen at the practice on Max-Brauer-Allee",
            "Pepper eats grain-free salmon kibble, two scoops a day",
            "Pepper is scared of fireworks and hides in the bathtub on New Year's Eve",
            "Pepper came from Greyhound Rescue Ireland in 2021",
            "Pepper's booster vaccination is due in September",
            "Pepper wears a red fleece coat on walks in winter",
            "Pepper must stay on the lead in the park because she chases squirrels",
            "My neighbour Frau Krüger walks Pepper when I work late nights",
            "Pepper had a tooth removed last year and chews on the left side",
            "Pepper sleeps on the old blue sofa in the living room",
            "Pepper's favourite walk is along the Elbstrand to the Teufelsbrück pier",
            "Pepper gets a heartworm tablet on the first of each month",
            "Pepper weighs 28 kilos and should not gain more",
            "The dog sitter for Pepper during holidays is Jonas from Ottensen",
            "Pepper's microchip is registered with Tasso",
            "Pepper is gentle with cats but barks at bicycles",
            "Pepper's pet insurance is with Uelzener and costs 19 euros a month",
            "Pepper likes carrots as a treat more than biscuits",
            "Pepper's nails are clipped at the groomer every six weeks",
            "Emma taught Pepper to give a paw",
        ],
        lookups: &[
            crowded(
                "What did I say Pepper does when people set off rockets at midnight?",
                "Pepper is scared of fireworks and hides in the bathtub on New Year's Eve",
            ),
            crowded(
                "Who minds Pepper when we go away in the summer?",
                "The dog sitter for Pepper during holidays is Jonas from Ottensen",
            ),
            crowded(
                "What does Pepper's cover cost me?",
                "Pepper's pet insurance is with Uelzener and costs 19 euros a month",
            ),
        ],
        harder: &[],
        dialogues: &[],
    },
    // Kenji: the Fuji climb.
    More {
        crowd: &[
            "For the Fuji climb I plan to take the Yoshida trail from the fifth station",
            "I booked a mountain hut on Fuji at the eighth station for the night of 12 August",
            "My climbing partner for Fuji is my former student Daiki",
            "I need to buy proper hiking boots before the Fuji trip",
            "The Fuji climbing season opens on 1 July",
            "I want to see the sunrise from the summit of Fuji",
            "I'm worried about altitude sickness on Fuji and will bring oxygen cans",
            "The bus to the Fuji fifth station leaves Shinjuku at 7:30",
            "I must pay the 4,000 yen trail fee for Fuji online in advance",
            "I'm training for Fuji by climbing Mount Ikoma every Sunday",
            "Yuki wants me to carry glucose tablets on the Fuji climb for my blood sugar",
            "I'm bringing a headlamp for the night section of the Fuji climb",
            "My rain jacket for Fuji is a Montbell Storm Cruiser",
            "After Fuji we will relax at an onsen in Kawaguchiko",
            "The mountain hut on Fuji does not take cards, so I need cash",
            "I read that it gets below zero at the top of Fuji even in summer",
            "Haruto might join the Fuji climb if his exams are over",
            "I plan to send a postcard from the post office at the Fuji summit",
            "I want to collect the stamps burned into a wooden walking stick on Fuji",
            "The descent from Fuji on the Subashiri trail has loose volcanic sand",
        ],
        lookups: &[
            crowded(
                "Who did I say is coming up the mountain with me?",
                "My climbing partner for Fuji is my former student Daiki",
            ),
            crowded(
                "How do I pay for the place where we sleep on the way up?",
                "The mountain hut on Fuji does not take cards, so I need cash",
            ),
            crowded(
                "What am I doing on weekends to get fit for the climb?",
                "I'm training for Fuji by climbing Mount Ikoma every Sunday",
            ),
        ],
        harder: &[],
        dialogues: &[],
    },
    // Priya: her first triathlon.
    More {
        crowd: &[
            "My triathlon is the Leeds sprint triathlon on 24 August",
            "The triathlon swim is 750 m in the Roundhay lake",
            "I swim with the Leeds Triathlon Club on Wednesday mornings at 6",
            "My triathlon coach is Hannah, a former Ironman",
            "I bought a second-hand road bike for the triathlon, a Cannondale CAAD10",
            "My wetsuit for the triathlon is a rented Zone3 until the end of September",
            "My weak discipline in the triathlon is running; my knees ache after 5 km",
            "I do brick sessions, bike then run, on Saturday afternoons for the triathlon",
            "For the triathlon I eat porridge with banana three hours before",
            "My goal for the triathlon is to finish under 1 hour 40",
            "The triathlon transition area opens at 6:30 on race day",
            "I need elastic laces for my running shoes for the triathlon",
            "Sam will cheer at the triathlon with our pet sitter Zoe",
            "My triathlon race number is collected the day before at the Roundhay mansion",
            "I swim breaststroke when I panic in open water during triathlon training",
            "My triathlon training plan has one rest day, Friday",
            "I entered the triathlon in the women's 30-34 age group",
            "I raise money for Mind with my triathlon, the target is 500 pounds",
            "My bike for the triathlon needs new tyres before August",
            "I wear prescription goggles for the triathlon swim because of my eyesight",
        ],
        lookups: &[
            crowded(
                "What time can I get into the area where the bikes are left on race day?",
                "The triathlon transition area opens at 6:30 on race day",
            ),
            crowded(
                "Which charity am I collecting for with the race?",
                "I raise money for Mind with my triathlon, the target is 500 pounds",
            ),
            crowded("Who is helping me get ready for the race?", "My triathlon coach is Hannah, a former Ironman"),
        ],
        harder: &[],
        dialogues: &[],
    },
    // Tomás: the back garden.
    More {
        crowd: &[
            "I plant the seed potatoes in the garden on St Patrick's Day",
            "My potato variety in the garden is Kerr's Pink",
            "The garden's leeks go in in June, after the early potatoes",
            "Slugs eat my cabbages in the garden, so I put down beer traps",
            "I get seaweed from the beach to feed the garden in winter",
            "My neighbour Nora swaps her rhubarb for my leeks from the garden",
            "The garden has a water butt by the shed that fills from the roof",
            "I grow sweet pea flowers along the garden fence in Bríd's memory",
            "The garden's compost heap is behind the shed",
            "I use a kneeling stool in the garden because of my hip",
            "Blight hit the potatoes in the garden two summers ago",
            "The garden gets the sun only in the afternoon because of the hedge",
            "My garden spade was my father's and has an ash handle",
            "Aoife helped me build the raised beds in the garden last Easter",
            "I buy my garden seeds at the Kinsale Country Store",
            "The garden's cabbages are Savoy, planted in August for the winter",
            "I net the garden's cabbages against the cabbage white butterflies",
            "I keep a notebook of what I planted in the garden each year",
            "The garden's rhubarb came from my mother's garden in Cork",
            "The robin follows me around the garden when I dig",
        ],
        lookups: &[
            crowded(
                "What did I say I use to feed the ground in the cold months?",
                "I get seaweed from the beach to feed the garden in winter",
            ),
            crowded(
                "Who gave me a hand with the woodwork in the garden last spring?",
                "Aoife helped me build the raised beds in the garden last Easter",
            ),
            crowded(
                "What helps me work the ground with my bad hip?",
                "I use a kneeling stool in the garden because of my hip",
            ),
        ],
        harder: &[],
        dialogues: &[],
    },
];
